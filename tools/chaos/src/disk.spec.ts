// The disk faults' own steps (root only: ext4 on a loop device). disk-readonly's way back: a disk
// forced read-only the way an I/O error does, while another mount namespace still holds it (as the
// other stores' `ip netns exec` namespaces do), is made writable again and proven so by a write.
// disk-full's filler: fills the disk to ENOSPC without stopping the event loop the workload's
// clients share with it (docs/reliability.md D16).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { closeSync, fsyncSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mountOptions, probeWrite, remountWritable } from './local';
import { fillDisk } from './faults';

const root = process.getuid?.() === 0;
const has = (cmd: string) => { try { execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }); return true; } catch { return false; } };
const skip = !root || !has('mkfs.ext4') || !has('unshare') ? 'needs root, mkfs.ext4 and unshare' : false;

describe('disk-readonly: remountWritable', { skip, timeout: 60_000 }, () => {
  it('a disk forced read-only (another mount namespace still holding it) is mounted rw again and takes a 1 MiB write', async () => {
    const base = mkdtempSync(join(tmpdir(), 'hawser-chaos-disk-spec-'));
    const dir = join(base, 's1');
    const image = `${dir}.img`;
    let holder: ReturnType<typeof spawn> | undefined;
    try {
      mkdirSync(dir);
      execFileSync('truncate', ['-s', '32M', image]);
      execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'nodiscard', image]);
      execFileSync('mount', ['-o', 'loop,errors=remount-ro', image, dir]);
      const fd = openSync(join(dir, 'kept'), 'w');
      writeSync(fd, 'before');
      fsyncSync(fd); // synced: it must survive the error and the fsck (an unsynced one need not)
      closeSync(fd);
      assert.equal(await probeWrite(dir), undefined);
      // A process in a mount namespace of its own keeps the superblock and its loop device alive.
      holder = spawn('unshare', ['-m', '--propagation', 'private', 'sleep', '60'], { cwd: dir, stdio: 'ignore' });
      await new Promise((r) => setTimeout(r, 300));
      const dev = execFileSync('findmnt', ['-n', '-o', 'SOURCE', '--mountpoint', dir], { encoding: 'utf8' }).trim().replace(/^\/dev\//, '');
      writeFileSync(`/sys/fs/ext4/${dev}/trigger_fs_error`, '1');
      assert.match((await probeWrite(dir)) ?? '', /probe write failed: (EROFS|EIO)/, 'the probe sees the read-only disk');
      const how = await remountWritable(dir);
      assert.match(how, /^remounted rw \(\/dev\/loop\d+ fsck \d/);
      const opts = mountOptions(dir);
      assert.equal(opts.length, 1);
      assert.match(opts[0]!, /^rw,/);
      assert.equal(await probeWrite(dir), undefined);
      assert.equal(readFileSync(join(dir, 'kept'), 'utf8'), 'before');
    } finally {
      if (holder?.pid) { try { process.kill(holder.pid, 'SIGKILL'); } catch { /* gone */ } }
      for (let i = 0; i < 5 && mountOptions(dir).length; i++) { try { execFileSync('umount', ['-d', dir], { stdio: 'ignore' }); } catch { execFileSync('umount', ['-l', '-d', dir], { stdio: 'ignore' }); } }
      const loops = execFileSync('losetup', ['-j', image], { encoding: 'utf8' }).split('\n').map((l) => l.split(':')[0]).filter(Boolean);
      for (const l of loops) { try { execFileSync('losetup', ['-d', l!], { stdio: 'ignore' }); } catch { /* busy: autoclear when released */ } }
      rmSync(base, { recursive: true, force: true });
    }
  });
});

describe('disk-full: fillDisk', { skip, timeout: 60_000 }, () => {
  it('fills a disk until ENOSPC while the event loop keeps turning', async () => {
    const base = mkdtempSync(join(tmpdir(), 'hawser-chaos-fill-spec-'));
    const dir = join(base, 's1');
    const image = `${dir}.img`;
    try {
      mkdirSync(dir);
      execFileSync('truncate', ['-s', '32M', image]);
      execFileSync('mkfs.ext4', ['-q', '-F', '-E', 'nodiscard', image]);
      execFileSync('mount', ['-o', 'loop', image, dir]);
      let turns = 0;
      let done = false;
      const turn = () => { turns++; if (!done) setImmediate(turn); };
      setImmediate(turn);
      const file = await fillDisk(dir);
      done = true;
      assert.equal(file, join(dir, 'chaos-filler'));
      assert.match((await probeWrite(dir)) ?? '', /probe write failed: ENOSPC/, 'the disk is full');
      // A synchronous fill lets no turn run until it returns (the workload's clients waited).
      assert.ok(turns >= 10, `the event loop turned ${turns} times during the fill`);
    } finally {
      for (let i = 0; i < 5 && mountOptions(dir).length; i++) { try { execFileSync('umount', ['-d', dir], { stdio: 'ignore' }); } catch { execFileSync('umount', ['-l', '-d', dir], { stdio: 'ignore' }); } }
      rmSync(base, { recursive: true, force: true });
    }
  });
});
