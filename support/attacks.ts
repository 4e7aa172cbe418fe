import { mkdir, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

/**
 * The attempts a hostile job submitter makes, shared by test/confinement.test.ts (each must be
 * refused, for the reason given) and bench:security (the table of attempts made and refused).
 */

/** URLs aimed at this machine or the private network, in every spelling; `port` is a loopback server's. */
export function ssrfSpellings(port: number): [url: string, why: RegExp][] {
  const p = port;
  return [
    [`http://127.0.0.1:${p}/secret.jpg`, /127\.0\.0\.1 is a loopback address/],
    [`http://localhost:${p}/secret.jpg`, /localhost resolves to .* loopback/],
    [`http://2130706433:${p}/secret.jpg`, /loopback/], // decimal
    [`http://0177.0.0.1:${p}/secret.jpg`, /loopback/], // octal
    [`http://0x7f.0.0.1:${p}/secret.jpg`, /loopback/], // hex
    [`http://127.1:${p}/secret.jpg`, /loopback/], // short form
    [`http://0.0.0.0:${p}/secret.jpg`, /unspecified/], // Linux connects 0.0.0.0 to this machine
    [`http://[::1]:${p}/secret.jpg`, /::1 is a loopback/],
    [`http://[::ffff:127.0.0.1]:${p}/secret.jpg`, /IPv4-mapped 127\.0\.0\.1 is a loopback/],
    [`http://[::ffff:7f00:1]:${p}/secret.jpg`, /IPv4-mapped/],
    [`http://[0:0:0:0:0:ffff:a00:1]:${p}/`, /IPv4-mapped 10\.0\.0\.1 is a private/],
    [`http://[::127.0.0.1]:${p}/secret.jpg`, /IPv4-compatible/],
    [`http://[64:ff9b::7f00:1]:${p}/secret.jpg`, /NAT64/],
    ['http://169.254.169.254/latest/meta-data/', /link-local/], // cloud metadata
    ['http://10.1.2.3/', /private/],
    ['http://172.16.0.1/', /private/],
    ['http://192.168.0.1/', /private/],
    ['http://100.64.0.1/', /carrier-grade NAT/],
    ['http://224.0.0.1/', /multicast/],
    ['http://[fe80::1]/', /link-local/],
    ['http://[fd00::1]/', /unique-local/],
    ['http://[2002:7f00:1::]/', /6to4/],
    ['file:///etc/passwd', /only http and https/],
    [`http://user:pw@example.test:${p}/`, /credentials/],
  ];
}

/** Where an allowed host's redirect may try to send the worker. */
export function redirectTargets(port: number): [to: string, why: RegExp][] {
  return [
    [`http://127.0.0.1:${port}/secret.jpg`, /127\.0\.0\.1 is a loopback/],
    [`http://[::ffff:127.0.0.1]:${port}/secret.jpg`, /IPv4-mapped/],
    ['http://169.254.169.254/latest/meta-data/', /link-local/],
    [`http://inner.test:${port}/secret.jpg`, /inner\.test resolves to 10\.0\.0\.2/],
    ['file:///etc/passwd', /only http and https/],
  ];
}

export interface EscapeFixture {
  root: string;
  /** Files inside the root (one of them through a link that stays inside): each must be read. */
  inside: string[];
  /** Paths that leave the root: each must be refused, for the reason given. */
  escapes: [file: string, why: RegExp][];
}

/** A root with a photo in it, a folder beside it holding a "secret", and links between them. */
export async function makeEscapeFixture(dir: string, photo: Uint8Array): Promise<EscapeFixture> {
  const root = path.join(dir, 'root');
  const outside = path.join(dir, 'outside');
  await mkdir(path.join(root, 'sub'), { recursive: true });
  await mkdir(outside, { recursive: true });
  await writeFile(path.join(root, 'sub', 'dog.jpg'), photo);
  await writeFile(path.join(outside, 'secret.jpg'), photo);
  await symlink(path.join(outside, 'secret.jpg'), path.join(root, 'link-out.jpg'));
  await symlink(outside, path.join(root, 'dir-out'));
  await symlink(path.join(root, 'sub', 'dog.jpg'), path.join(root, 'link-in.jpg'));
  return {
    root,
    inside: [path.join(root, 'sub', 'dog.jpg'), path.join(root, 'link-in.jpg')],
    escapes: [
      ['/etc/passwd', /outside the worker's roots/],
      ['/etc/no-such-file', /outside the worker's roots/], // the same answer: nothing is told about what exists
      [path.join(outside, 'secret.jpg'), /outside the worker's roots/],
      [`${root}/../outside/secret.jpg`, /"\.\."/],
      [`${root}/sub/../sub/dog.jpg`, /"\.\."/],
      [path.join(root, 'link-out.jpg'), /symbolic link out .*secret\.jpg/],
      [path.join(root, 'dir-out', 'secret.jpg'), /symbolic link out/],
      [`${root}/sub/dog.jpg\0.png`, /NUL/],
    ],
  };
}
