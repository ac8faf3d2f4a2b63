// obtc run in this process with its output captured: the exit code, stdout and stderr as text.
import { main } from '../../cli/main.ts';

export async function obtcInProcess(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (s: string) => (out += s), err: (s: string) => (err += s) });
  return { code, out, err };
}
