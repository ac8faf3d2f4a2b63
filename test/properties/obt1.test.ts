// Fuzzer: legacy .obt1 (test/properties/framed.ts has the mutations and the seed).
import { framedFuzz } from './framed.ts';

framedFuzz('legacy .obt1');
