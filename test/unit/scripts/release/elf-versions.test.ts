// scripts/release/elf-versions.mjs: how readelf's text becomes needed versions, and the floors
// the release addons and binaries are held to (GLIBC_2.28; libstdc++/libgcc no more than Node).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

interface Entry { library: string; name: string; symbols: string[] }
interface ElfVersions {
  compareVersions(a: string, b: string): number;
  parseVersionNeeds(text: string): { file: string; name: string }[];
  parseDynSyms(text: string): { name: string; version: string; defined: boolean }[];
  versionRequirements(file: string): { entries: Entry[]; highest: Record<string, string> };
  violations(req: { entries: Entry[] }, floors: Record<string, string | undefined>): (Entry & { floor: string })[];
  describeViolation(file: string, v: Entry & { floor: string }): string;
  elfMachine(file: string): string;
  seaAddons(binary: string): { name: string; offset: number; bytes: Buffer }[];
}
const elf = (await import('../../../../scripts/release/elf-versions.mjs' as string)) as ElfVersions;

// Trimmed from `readelf -V --wide` of a pty.node built on glibc 2.36: definitions come first
// (their Name: lines are not needs), then the needs per file.
const READELF_V = `
Version symbols section '.gnu.version' contains 4 entries:
 Addr: 0x0000000000002376  Offset: 0x00002376  Link: 3 (.dynsym)
  000:   0 (*local*)       1 (*global*)      2 (GLIBC_2.2.5)   5 (GLIBC_2.34)

Version definition section '.gnu.version_d' contains 2 entries:
 Addr: 0x0000000000000a40  Offset: 0x00000a40  Link: 4 (.dynstr)
  000000: Rev: 1  Flags: BASE  Index: 1  Cnt: 1  Name: pty.node
  0x001c: Rev: 1  Flags: none  Index: 2  Cnt: 1  Name: GLIBC_9.99

Version needs section '.gnu.version_r' contains 2 entries:
 Addr: 0x0000000000002490  Offset: 0x00002490  Link: 4 (.dynstr)
  000000: Version: 1  File: libstdc++.so.6  Cnt: 2
  0x0010:   Name: GLIBCXX_3.4.22  Flags: none  Version: 12
  0x0020:   Name: CXXABI_1.3  Flags: none  Version: 11
  0x0030: Version: 1  File: libc.so.6  Cnt: 3
  0x0040:   Name: GLIBC_2.34  Flags: none  Version: 5
  0x0050:   Name: GLIBC_2.2.5  Flags: none  Version: 2
  0x0060:   Name: GLIBC_PRIVATE  Flags: weak  Version: 6
`;

const READELF_SYMS = `
Symbol table '.dynsym' contains 6 entries:
   Num:    Value          Size Type    Bind   Vis      Ndx Name
     0: 0000000000000000     0 NOTYPE  LOCAL  DEFAULT  UND 
     1: 0000000000000000     0 NOTYPE  WEAK   DEFAULT  UND _ZGTtnam
     2: 0000000000000000     0 FUNC    GLOBAL DEFAULT  UND forkpty@GLIBC_2.34 (5)
     3: 0000000000000000     0 FUNC    GLOBAL DEFAULT  UND free@GLIBC_2.2.5 (2)
     4: 000000000007ef44  3244 FUNC    GLOBAL DEFAULT   12 pthread_create@@GLIBC_2.34
     5: 0000000000000000     0 FUNC    GLOBAL DEFAULT  UND _ZNSt6thread4joinEv@GLIBCXX_3.4.11 (7)
`;

describe('elf-versions', () => {
  it('compares versions part by part', () => {
    expect(elf.compareVersions('2.28', '2.2.5')).toBe(1);
    expect(elf.compareVersions('3.4.9', '3.4.21')).toBe(-1);
    expect(elf.compareVersions('2.28', '2.28.0')).toBe(0);
  });

  it('reads only the needs section of readelf -V', () => {
    expect(elf.parseVersionNeeds(READELF_V)).toEqual([
      { file: 'libstdc++.so.6', name: 'GLIBCXX_3.4.22' },
      { file: 'libstdc++.so.6', name: 'CXXABI_1.3' },
      { file: 'libc.so.6', name: 'GLIBC_2.34' },
      { file: 'libc.so.6', name: 'GLIBC_2.2.5' },
      { file: 'libc.so.6', name: 'GLIBC_PRIVATE' },
    ]);
  });

  it('reads versioned dynamic symbols, undefined and defined', () => {
    expect(elf.parseDynSyms(READELF_SYMS)).toEqual([
      { name: 'forkpty', version: 'GLIBC_2.34', defined: false },
      { name: 'free', version: 'GLIBC_2.2.5', defined: false },
      { name: 'pthread_create', version: 'GLIBC_2.34', defined: true },
      { name: '_ZNSt6thread4joinEv', version: 'GLIBCXX_3.4.11', defined: false },
    ]);
  });

  it('names what breaks a floor, and the library it is wanted from', () => {
    const req = {
      entries: [
        { library: 'libc.so.6', name: 'GLIBC_2.34', symbols: ['forkpty', 'openpty'] },
        { library: 'libc.so.6', name: 'GLIBC_2.28', symbols: ['fcntl64'] },
        { library: 'libstdc++.so.6', name: 'GLIBCXX_3.4.22', symbols: ['_ZNSt6thread6_StateD2Ev'] },
        { library: 'libgcc_s.so.1', name: 'GCC_3.0', symbols: ['_Unwind_Resume'] },
        { library: 'libc.so.6', name: 'GLIBC_PRIVATE', symbols: ['__x'] },
      ],
    };
    const found = elf.violations(req, { GLIBC: '2.28', GLIBCXX: '3.4.21', CXXABI: '1.3.11', GCC: undefined });
    expect(found.map((v) => v.name)).toEqual(['GLIBC_2.34', 'GLIBCXX_3.4.22', 'GCC_3.0', 'GLIBC_PRIVATE']);
    expect(elf.describeViolation('/x/pty.node', found[0]!)).toBe(
      'pty.node needs GLIBC_2.34 from libc.so.6 (forkpty, openpty), above the floor GLIBC_2.28',
    );
  });

  it('reads a real object: this Node binary needs glibc, and is of this machine', () => {
    const req = elf.versionRequirements(process.execPath);
    expect(req.highest.GLIBC).toMatch(/^2\.\d+/);
    expect(req.entries.some((e) => e.library === 'libc.so.6' && e.symbols.length > 0)).toBe(true);
    expect(elf.elfMachine(process.execPath)).toBe(process.arch === 'arm64' ? 'AArch64' : 'x86-64');
    expect(() => elf.versionRequirements(path.join(import.meta.dirname, 'elf-versions.test.ts'))).toThrow(/readelf/);
  });

  describe('seaAddons: the .node shared objects inside a single executable', () => {
    /** An ELF64 little-endian header of `type`, `size` bytes long to the end of 2 section headers. */
    function elfObject(type: number, size: number): Buffer {
      const b = Buffer.alloc(size);
      Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(b);
      b.writeUInt16LE(type, 16);
      b.writeBigUInt64LE(BigInt(size - 128), 0x28); // e_shoff
      b.writeUInt16LE(64, 0x3a); // e_shentsize
      b.writeUInt16LE(2, 0x3c); // e_shnum
      return b;
    }
    const u64 = (n: number) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(BigInt(n));
      return b;
    };
    /** As Node's blob stores an asset: u64 name length, name, u64 size, bytes. */
    const asset = (name: string, bytes: Buffer) => Buffer.concat([u64(name.length), Buffer.from(name), u64(bytes.length), bytes]);

    it('finds each by its name and length prefix, and nothing else that looks like ELF', () => {
      const posix = elfObject(3, 1000);
      const pty = elfObject(3, 700);
      const binary = Buffer.concat([
        elfObject(2, 4096), // the executable itself (ET_EXEC here), at offset 0
        Buffer.from('\x7fELF\x02\x01 inside some data'),
        asset('connection.cjs', Buffer.from('module.exports = {}')),
        asset('not-an-addon.so', elfObject(3, 300)), // a name that is not .node
        u64(999), elfObject(3, 500), // a length that does not match
        asset('pty.node', pty),
        asset('posix.node', posix),
      ]);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'elf-sea-'));
      try {
        const file = path.join(dir, 'binary');
        writeFileSync(file, binary);
        const found = elf.seaAddons(file);
        expect(found.map((a) => a.name)).toEqual(['pty.node', 'posix.node']);
        expect(found[0]!.bytes.equals(pty)).toBe(true);
        expect(found[1]!.bytes.equals(posix)).toBe(true);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
