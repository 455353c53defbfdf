// The suite's clients we did not write that are Python scripts (Debian's python3-stomp, under
// tests/integration/py/): finding a python3 that has it, and running a script with a deadline.
// A missing python3-stomp is a failure that says how to install it, never a skip.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './harness';

/** A python3 that can `import stomp`: $PYTHON, python3 on PATH, or Debian's /usr/bin/python3. */
export function findPython(): { python?: string; tried: string[] } {
  const tried: string[] = [];
  for (const p of [process.env.PYTHON, 'python3', '/usr/bin/python3'].filter((x): x is string => !!x)) {
    const r = spawnSync(p, ['-c', 'import stomp'], { encoding: 'utf8', timeout: 10_000 });
    if (r.status === 0) return { python: p, tried };
    tried.push(`${p}: ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').pop()}`);
  }
  return { tried };
}

/** The python3 that has python3-stomp, or an error saying how to install it. */
export function requirePython(): string {
  const { python, tried } = findPython();
  if (!python) throw new Error(`python3-stomp is not installed, so this test cannot run. Install it: sudo apt-get install -y python3-stomp (or run tools/scripts/setup.sh as root). Tried: ${tried.join('; ')}`);
  return python;
}

export interface ScriptRun { code: number | null; stdout: string; stderr: string }

/** Runs a command from the repository root; killed (SIGKILL, by its PID) after `timeoutMs`. */
export function run(cmd: string, args: string[], timeoutMs: number): Promise<ScriptRun> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
  });
}

/** Runs tests/integration/py/<script> with python3-stomp; the JSON of its last stdout line (null when it printed none). */
export async function runPythonScript(script: string, args: string[], timeoutMs: number): Promise<ScriptRun & { result: unknown }> {
  const r = await run(requirePython(), [join(ROOT, 'tests/integration/py', script), ...args], timeoutMs);
  let result: unknown = null;
  try { result = JSON.parse(r.stdout.trim().split('\n').pop() ?? ''); } catch { /* none: the caller says so */ }
  return { ...r, result };
}
