/**
 * Where tests keep files whose durability is not what they test (a state database of a
 * unit test, a simulated device's, a store walked by the collector, a backup repository
 * in a directory): in memory (/dev/shm) where the machine has one, else the temporary
 * directory. Nothing differs for the processes that read and write them, one killed
 * included; only fsync returns at once, and on a busy disk it took most of these tests'
 * time (lib/sync/convergence.prop.test.ts 57 s on disk, 25 s in memory). A test of what
 * reaches the disk (a full one, a power cut) keeps its own: test/harness.ts withTmpfs.
 */
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";

export const TEST_SCRATCH_ROOT = existsSync("/dev/shm") ? "/dev/shm" : tmpdir();
