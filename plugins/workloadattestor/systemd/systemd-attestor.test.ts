import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { captureLogger } from "../../../src/workload-api/test-logger.js";
import { createSystemdAttestor } from "./systemd-attestor.js";
import type { SystemdAttestor } from "./systemd-attestor.js";
import { fakeServiceUnit, startFakeSystemd } from "./test-fake-systemd.js";
import type { FakeSystemd, FakeSystemdOptions, FakeUnit } from "./test-fake-systemd.js";
import { startPrivateBus } from "./test-private-bus.js";
import type { PrivateBus } from "./test-private-bus.js";

const DEMO_PID = 4242;
const SCOPE_PID = 4343;
const SILENT_PID = 4444;
const DEMO_UNIT = fakeServiceUnit("tessera-demo.service", "/etc/systemd/system/tessera-demo.service");

describe("systemd workload attestor", () => {
  let folder: string;
  let bus: PrivateBus | undefined;
  const fakes: FakeSystemd[] = [];
  const attestors: SystemdAttestor[] = [];

  beforeEach(() => {
    folder = mkdtempSync(join(tmpdir(), "tessera-systemd-"));
  });

  afterEach(async () => {
    for (const attestor of attestors.splice(0)) attestor.close();
    for (const fake of fakes.splice(0)) fake.stop();
    await bus?.stop();
    bus = undefined;
    rmSync(folder, { recursive: true, force: true });
  });

  async function startBusWithSystemd(options: Partial<FakeSystemdOptions> = {}): Promise<FakeSystemd> {
    bus = await startPrivateBus(folder);
    const fake = await startFakeSystemd(bus.address, {
      unitsByPid: new Map([[DEMO_PID, DEMO_UNIT]]),
      silentPids: new Set([SILENT_PID]),
      ...options,
    });
    fakes.push(fake);
    return fake;
  }

  function newAttestor(busAddress: string, logger = captureLogger().logger): SystemdAttestor {
    const attestor = createSystemdAttestor({}, logger, { busAddress });
    attestors.push(attestor);
    return attestor;
  }

  function attest(attestor: SystemdAttestor, pid: number, signal = new AbortController().signal): Promise<string[]> {
    return attestor.attest(pid, signal);
  }

  it("returns id and fragment_path of the unit", async () => {
    await startBusWithSystemd();
    const attestor = newAttestor(bus!.address);

    const values = await attest(attestor, DEMO_PID);

    expect(values).toEqual(["id:tessera-demo.service", "fragment_path:/etc/systemd/system/tessera-demo.service"]);
  });

  it("gives an empty fragment_path for a unit without a file", async () => {
    const scope: FakeUnit = fakeServiceUnit("session-3.scope", "");
    await startBusWithSystemd({ unitsByPid: new Map([[SCOPE_PID, scope]]) });
    const attestor = newAttestor(bus!.address);

    const values = await attest(attestor, SCOPE_PID);

    expect(values).toEqual(["id:session-3.scope", "fragment_path:"]);
  });

  it("reuses one connection across calls", async () => {
    const fake = await startBusWithSystemd();
    const attestor = newAttestor(bus!.address);

    await attest(attestor, DEMO_PID);
    await attest(attestor, DEMO_PID);
    await Promise.all([attest(attestor, DEMO_PID), attest(attestor, DEMO_PID)]);

    expect(fake.callers).toHaveLength(4);
    expect(new Set(fake.callers).size).toBe(1);
  });

  it("fails for a pid outside every unit", async () => {
    await startBusWithSystemd();
    const attestor = newAttestor(bus!.address);

    await expect(attest(attestor, 7)).rejects.toThrow(
      "failed to get the systemd unit of pid 7: org.freedesktop.systemd1.NoUnitForPID: PID 7 does not belong to any loaded unit.",
    );
  });

  it("fails when systemd is not on the bus", async () => {
    bus = await startPrivateBus(folder);
    const attestor = newAttestor(bus.address);

    await expect(attest(attestor, DEMO_PID)).rejects.toThrow(
      'failed to get the systemd unit of pid 4242: org.freedesktop.DBus.Error.NameHasNoOwner: Name "org.freedesktop.systemd1" does not exist',
    );
  });

  it("fails clearly when there is no bus", async () => {
    const attestor = newAttestor(`unix:path=${join(folder, "missing.sock")}`);

    await expect(attest(attestor, DEMO_PID)).rejects.toThrow(
      /failed to get the systemd unit of pid 4242: D-Bus connection to unix:path=.*missing\.sock failed: connect ENOENT .*no D-Bus daemon listens there/,
    );
  });

  it("rejects an invalid pid before calling systemd", async () => {
    const fake = await startBusWithSystemd();
    const attestor = newAttestor(bus!.address);

    await expect(attest(attestor, 0)).rejects.toThrow("invalid pid 0: systemd takes a positive 32-bit process ID");
    await expect(attest(attestor, 2 ** 32)).rejects.toThrow(/invalid pid 4294967296/);
    expect(fake.callers).toEqual([]);
  });

  it("reconnects after the bus restarts", async () => {
    const firstFake = await startBusWithSystemd();
    const captured = captureLogger();
    const attestor = newAttestor(bus!.address, captured.logger);
    await attest(attestor, DEMO_PID);

    firstFake.stop();
    await bus!.stop();
    const whileDown = attest(attestor, DEMO_PID);
    await expect(whileDown).rejects.toThrow(/D-Bus connection to unix:path=.*bus\.sock (failed|closed)/);
    const secondFake = await startBusWithSystemd();
    const values = await attest(attestor, DEMO_PID);

    expect(values).toContain("id:tessera-demo.service");
    expect(secondFake.callers).toHaveLength(1);
    expect(captured.lines.map((line) => line.msg)).toContain("Reopening the D-Bus connection");
    const warnings = captured.lines.filter((line) => line.level === 40);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.bus_address).toBe(bus!.address);
  });

  it("fails a waiting call when the bus goes away", async () => {
    await startBusWithSystemd();
    const attestor = newAttestor(bus!.address);

    const waiting = attest(attestor, SILENT_PID).catch((error: unknown) => error);
    await new Promise((wake) => setTimeout(wake, 100));
    await bus!.stop();

    expect(await waiting).toBeInstanceOf(Error);
    expect(String(await waiting)).toMatch(/failed to get the systemd unit of pid 4444: the D-Bus connection to .* closed before the reply arrived/);
  });

  it("stops waiting on abort and keeps the connection", async () => {
    const fake = await startBusWithSystemd();
    const attestor = newAttestor(bus!.address);
    const controller = new AbortController();

    const waiting = attest(attestor, SILENT_PID, controller.signal);
    controller.abort(new Error("caller went away"));
    await expect(waiting).rejects.toThrow(/caller went away/);
    const values = await attest(attestor, DEMO_PID);

    expect(values).toContain("id:tessera-demo.service");
    expect(new Set(fake.callers).size).toBe(1);
  });

  it("rejects a GetUnitByPID reply that is not an object path", async () => {
    await startBusWithSystemd({ getUnitByPidSignature: "s" });
    const attestor = newAttestor(bus!.address);

    await expect(attest(attestor, DEMO_PID)).rejects.toThrow(
      'failed to get the systemd unit of pid 4242: GetUnitByPID returned a reply of D-Bus type "s", expected an object path ("o")',
    );
  });

  it("rejects a property that is not a string", async () => {
    const odd: FakeUnit = {
      path: DEMO_UNIT.path,
      properties: { Id: ["u", 42], FragmentPath: ["s", "/etc/systemd/system/tessera-demo.service"] },
    };
    await startBusWithSystemd({ unitsByPid: new Map([[DEMO_PID, odd]]) });
    const attestor = newAttestor(bus!.address);

    await expect(attest(attestor, DEMO_PID)).rejects.toThrow(
      `failed to read the Id property of systemd unit ${DEMO_UNIT.path}: systemd returned a variant of D-Bus type "u", expected a string`,
    );
  });

  it("fails when the unit object is missing", async () => {
    const missing: FakeUnit = { path: DEMO_UNIT.path };
    await startBusWithSystemd({ unitsByPid: new Map([[DEMO_PID, missing]]) });
    const attestor = newAttestor(bus!.address);

    await expect(attest(attestor, DEMO_PID)).rejects.toThrow(
      `failed to read the Id property of systemd unit ${DEMO_UNIT.path}: org.freedesktop.DBus.Error.UnknownMethod`,
    );
  });
});
