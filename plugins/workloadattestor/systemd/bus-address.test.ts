import { describe, expect, it } from "vitest";
import { DEFAULT_SYSTEM_BUS_ADDRESS, socketPathOfBusAddress, systemBusAddress } from "./bus-address.js";

describe("socketPathOfBusAddress", () => {
  it.each([
    ["unix:path=/run/dbus/system_bus_socket", "/run/dbus/system_bus_socket"],
    ["unix:path=/tmp/with%20space/bus,guid=0123456789abcdef", "/tmp/with space/bus"],
    ["unix:abstract=/tmp/dbus-XYZ", "\0/tmp/dbus-XYZ"],
    ["tcp:host=localhost,port=1;unix:path=/run/bus", "/run/bus"],
  ])("reads %j", (address, expected) => {
    expect(socketPathOfBusAddress(address)).toBe(expected);
  });

  it.each([
    ["tcp:host=localhost,port=1", /no unix:path= or unix:abstract= entry/],
    ["unix:tmpdir=/tmp", /no unix:path= or unix:abstract= entry/],
    ["", /no unix:path= or unix:abstract= entry/],
    ["unix:path", /"path" is not key=value/],
    ["unix:path=/run/%zz", /bad %-escape in "\/run\/%zz"/],
  ])("rejects %j", (address, message) => {
    expect(() => socketPathOfBusAddress(address)).toThrow(message);
  });
});

describe("systemBusAddress", () => {
  it("prefers DBUS_SYSTEM_BUS_ADDRESS", () => {
    expect(systemBusAddress({ DBUS_SYSTEM_BUS_ADDRESS: "unix:path=/x" })).toBe("unix:path=/x");
  });

  it("falls back to the standard socket", () => {
    expect(systemBusAddress({})).toBe(DEFAULT_SYSTEM_BUS_ADDRESS);
    expect(systemBusAddress({ DBUS_SYSTEM_BUS_ADDRESS: "" })).toBe(DEFAULT_SYSTEM_BUS_ADDRESS);
  });
});
