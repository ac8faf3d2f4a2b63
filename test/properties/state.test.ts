// Fuzzer: state file (test/properties/framed.ts has the mutations and the seed).
import { framedFuzz } from './framed.ts';

framedFuzz('state file');
