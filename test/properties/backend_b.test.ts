// The Wasm backend fuzzer's second half (test/properties/backend_fuzz.ts): a test file of its own so
// that the halves run in parallel workers.
import { backendFuzz } from './backend_fuzz.ts';

backendFuzz(2);
