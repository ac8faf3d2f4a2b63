// Fuzzer: model file (.obtm) (test/properties/framed.ts has the mutations and the seed).
import { framedFuzz } from './framed.ts';

framedFuzz('model file (.obtm)');
