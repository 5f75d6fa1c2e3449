import { describe, expect, test } from "bun:test";
import { noUserNamespacesFilter } from "./seccomp.ts";

/** The filter as [code, jt, jf, k] instructions. */
function decode(bytes: Uint8Array): [number, number, number, number][] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return Array.from({ length: bytes.length / 8 }, (_, i) => [
    view.getUint16(i * 8, true),
    view.getUint8(i * 8 + 2),
    view.getUint8(i * 8 + 3),
    view.getUint32(i * 8 + 4, true),
  ]);
}

describe("noUserNamespacesFilter", () => {
  test("checks the ABI first, and every jump lands inside the program on a return or a load", () => {
    for (const arch of ["x64", "arm64"]) {
      const program = decode(noUserNamespacesFilter(arch) as Uint8Array);
      expect(program[0]).toEqual([0x20, 0, 0, 4]);
      for (const [i, [code, jt, jf]] of program.entries()) {
        if ((code & 0x07) !== 0x05) continue;
        for (const target of [i + 1 + jt, i + 1 + jf]) {
          expect(target).toBeLessThan(program.length);
          expect([0x06, 0x20, 0x15, 0x35, 0x45]).toContain(program[target]?.[0] as number);
        }
      }
      expect((program.at(-1) as number[])[3]).toBe(0x80000000);
    }
  });

  test("refuses CLONE_NEWUSER with EPERM and clone3 with ENOSYS, on each CPU's numbers", () => {
    const x64 = decode(noUserNamespacesFilter("x64") as Uint8Array);
    const arm64 = decode(noUserNamespacesFilter("arm64") as Uint8Array);
    const compared = (program: typeof x64) =>
      program.filter(([code]) => code === 0x15).map(([, , , k]) => k);
    expect(compared(x64)).toEqual([0xc000003e, 435, 272, 56]);
    expect(compared(arm64)).toEqual([0xc00000b7, 435, 97, 220]);
    expect(x64.find(([code]) => code === 0x45)?.[3]).toBe(0x10000000);
    const returns = x64.filter(([code]) => code === 0x06).map(([, , , k]) => k);
    expect(returns).toContain(0x00050001);
    expect(returns).toContain(0x00050026);
  });

  test("has no filter for a CPU it does not know", () => {
    expect(noUserNamespacesFilter("mips")).toBeUndefined();
  });
});
