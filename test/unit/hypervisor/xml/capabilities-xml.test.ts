import { describe, expect, it } from "vitest";
import { parseHugepages } from "../../../../server/hypervisor/xml/index.ts";

const caps = (cells: string) => `<capabilities>
  <host>
    <uuid>5b1c0f7e-0000-0000-0000-000000000000</uuid>
    <cpu>
      <arch>x86_64</arch>
      <pages unit='KiB' size='4'/>
      <pages unit='KiB' size='2048'/>
      <pages unit='KiB' size='1048576'/>
    </cpu>
    <topology>
      <cells num='2'>${cells}</cells>
    </topology>
  </host>
</capabilities>`;

const cell = (id: number, small: number, huge2m: number, huge1g: number) => `
        <cell id='${id}'>
          <memory unit='KiB'>8000000</memory>
          <pages unit='KiB' size='4'>${small}</pages>
          <pages unit='KiB' size='2048'>${huge2m}</pages>
          <pages unit='KiB' size='1048576'>${huge1g}</pages>
          <cpus num='1'><cpu id='${id}' socket_id='0' die_id='0' core_id='${id}' siblings='${id}'/></cpus>
        </cell>`;

describe("host capabilities: huge pages", () => {
  it("sums each huge page size over the NUMA cells and leaves out the base page", () => {
    expect(parseHugepages(caps(cell(0, 100, 8, 0) + cell(1, 200, 4, 1)))).toEqual([
      { sizeKiB: 2048, total: 12 },
      { sizeKiB: 1048576, total: 1 },
    ]);
  });

  it("reads a single cell and a host with none configured", () => {
    expect(parseHugepages(caps(cell(0, 100, 0, 0)))).toEqual([
      { sizeKiB: 2048, total: 0 },
      { sizeKiB: 1048576, total: 0 },
    ]);
  });

  it("copes with a host that lists no page sizes or no topology", () => {
    expect(parseHugepages("<capabilities><host><cpu><arch>x86_64</arch></cpu></host></capabilities>")).toEqual([]);
    expect(parseHugepages("<capabilities><host><cpu><pages unit='KiB' size='4'/><pages unit='KiB' size='2048'/></cpu></host></capabilities>")).toEqual([{ sizeKiB: 2048, total: 0 }]);
  });
});
