// A loopback address whose TCP handshakes never complete: a listener (in a python3 child, since
// Node accepts every connection itself) that never accepts, its tiny backlog filled first, so
// the kernel drops further SYNs and a connect hangs until the client gives up.

import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

const SCRIPT = `
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind(("127.0.0.1", 0))
s.listen(0)
print(s.getsockname()[1], flush=True)
sys.stdin.read()
`;

export interface Blackhole {
  readonly url: string;
  close(): Promise<void>;
}

export async function blackholeUpstream(): Promise<Blackhole> {
  const child: ChildProcess = spawn('python3', ['-c', SCRIPT], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (data: Buffer) => resolve(Number(String(data).trim())));
  });
  // Fill the accept queue: these complete; every later handshake is dropped.
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 3; i++) {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => {});
    fillers.push(socket);
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
  return {
    url: `http://127.0.0.1:${port}`,
    close: async () => {
      for (const socket of fillers) socket.destroy();
      child.stdin!.end();
      if (child.exitCode === null) {
        await new Promise((resolve) => {
          child.once('exit', resolve);
          child.kill();
        });
      }
    },
  };
}
