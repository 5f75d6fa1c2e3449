/**
 * A seccomp filter that keeps an app from making user namespaces, for the sandbox bucky
 * makes as root (bubblewrap's own --disable-userns needs a user namespace, which that
 * sandbox has none of). A user namespace is where most of the kernel's surface for
 * privilege escalation opens up, and an app has no use for one.
 *
 * The filter (classic BPF, as bubblewrap's --seccomp takes it) refuses unshare and clone
 * with CLONE_NEWUSER (EPERM), and clone3, whose flags it cannot see (ENOSYS: the C library
 * then falls back to clone). A system call of another ABI (32-bit, x32) kills the process:
 * its numbers would slip past the filter.
 */

interface Arch {
  /** AUDIT_ARCH_* of the native ABI. */
  readonly audit: number;
  readonly unshare: number;
  readonly clone: number;
  readonly clone3: number;
  /** x86_64's x32 system calls carry this bit. */
  readonly x32Bit?: number;
}

const ARCHES: Record<string, Arch> = {
  x64: { audit: 0xc000003e, unshare: 272, clone: 56, clone3: 435, x32Bit: 0x40000000 },
  arm64: { audit: 0xc00000b7, unshare: 97, clone: 220, clone3: 435 },
};

const CLONE_NEWUSER = 0x10000000;
const EPERM = 1;
const ENOSYS = 38;

const LD_W_ABS = 0x20;
const JEQ = 0x15;
const JGE = 0x35;
const JSET = 0x45;
const RET = 0x06;
const RET_ALLOW = 0x7fff0000;
const RET_ERRNO = 0x00050000;
const RET_KILL_PROCESS = 0x80000000;

/** seccomp_data: nr at 0, arch at 4, args[0] (its low half, little-endian) at 16. */
const NR = 0;
const ARCH = 4;
const ARG0 = 16;

/** The filter for the CPU `arch` (process.arch), or undefined where it has none. */
export function noUserNamespacesFilter(arch: string): Uint8Array | undefined {
  const a = ARCHES[arch];
  if (!a) return undefined;
  type Step = { code: number; k: number; jt?: string; jf?: string; label?: string };
  const steps: Step[] = [
    { code: LD_W_ABS, k: ARCH },
    { code: JEQ, k: a.audit, jf: "kill" },
    { code: LD_W_ABS, k: NR },
    ...(a.x32Bit ? [{ code: JGE, k: a.x32Bit, jt: "kill" }] : []),
    { code: JEQ, k: a.clone3, jt: "enosys" },
    { code: JEQ, k: a.unshare, jt: "flags" },
    { code: JEQ, k: a.clone, jt: "flags" },
    { code: RET, k: RET_ALLOW },
    { code: LD_W_ABS, k: ARG0, label: "flags" },
    { code: JSET, k: CLONE_NEWUSER, jt: "eperm" },
    { code: RET, k: RET_ALLOW },
    { code: RET, k: RET_ERRNO | EPERM, label: "eperm" },
    { code: RET, k: RET_ERRNO | ENOSYS, label: "enosys" },
    { code: RET, k: RET_KILL_PROCESS, label: "kill" },
  ];
  const at = (label: string | undefined, from: number) => {
    if (label === undefined) return 0;
    return steps.findIndex((step) => step.label === label) - from - 1;
  };
  const bytes = new Uint8Array(steps.length * 8);
  const view = new DataView(bytes.buffer);
  steps.forEach((step, i) => {
    view.setUint16(i * 8, step.code, true);
    view.setUint8(i * 8 + 2, at(step.jt, i));
    view.setUint8(i * 8 + 3, at(step.jf, i));
    view.setUint32(i * 8 + 4, step.k >>> 0, true);
  });
  return bytes;
}
