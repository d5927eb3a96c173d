import { describe, expect, it } from "vitest";

import {
  dedupeSelectors,
  formatSelector,
  parseSelector,
  SelectorError,
  selectorKey,
  selectorSetMatches,
  selectorsSatisfy,
  sortSelectors,
  validateSelector,
} from "./selector.js";
import type { Selector, SelectorMatch } from "./selector.js";

const s = (text: string): Selector => parseSelector(text);

describe("parseSelector", () => {
  const valid: Array<[string, string, string, string]> = [
    ["simple", "unix:uid:1000", "unix", "uid:1000"],
    ["value with many colons", "k8s:pod-label:app:web", "k8s", "pod-label:app:web"],
    ["value that is a colon", "t::", "t", ":"],
    ["value with spaces", "docker:label:a b", "docker", "label:a b"],
    ["plain value", "join_token:abc", "join_token", "abc"],
  ];
  for (const [name, text, type, value] of valid) {
    it(`splits ${name}`, () => {
      expect(parseSelector(text)).toEqual({ type, value });
    });
  }

  const invalid: Array<[string, string, RegExp]> = [
    ["no colon", "unix", /expected the form type:value/],
    ["empty type", ":uid:0", /type before the first ":" is empty/],
    ["empty value", "unix:", /value after the first ":" is empty/],
    ["empty input", "", /expected the form type:value/],
  ];
  for (const [name, text, message] of invalid) {
    it(`rejects ${name}`, () => {
      expect(() => parseSelector(text)).toThrow(SelectorError);
      expect(() => parseSelector(text)).toThrow(message);
    });
  }

  it("round-trips through formatSelector", () => {
    expect(formatSelector(parseSelector("k8s:ns:default"))).toBe("k8s:ns:default");
  });
});

describe("validateSelector", () => {
  it("accepts a valid selector", () => {
    expect(validateSelector({ type: "unix", value: "uid:0" })).toEqual({ type: "unix", value: "uid:0" });
  });

  it("rejects a colon in the type", () => {
    expect(() => validateSelector({ type: "a:b", value: "c" })).toThrow(/contain no ":"/);
  });

  it("rejects an empty type", () => {
    expect(() => validateSelector({ type: "", value: "c" })).toThrow(SelectorError);
  });

  it("rejects an empty value", () => {
    expect(() => validateSelector({ type: "unix", value: "" })).toThrow(/value is empty/);
  });
});

describe("selector helpers", () => {
  it("keys differ when type and value split differently", () => {
    expect(selectorKey({ type: "a", value: "b:c" })).toBe("a:b:c");
    expect(selectorKey({ type: "a", value: "b" })).not.toBe(selectorKey({ type: "a", value: "b:c" }));
  });

  it("sorts by type then value", () => {
    const sorted = sortSelectors([s("unix:uid:1"), s("k8s:ns:b"), s("k8s:ns:a"), s("unix:gid:0")]);
    expect(sorted.map(formatSelector)).toEqual(["k8s:ns:a", "k8s:ns:b", "unix:gid:0", "unix:uid:1"]);
  });

  it("sorting leaves the input unchanged", () => {
    const input = [s("b:1"), s("a:1")];
    sortSelectors(input);
    expect(input.map(formatSelector)).toEqual(["b:1", "a:1"]);
  });

  it("dedupes keeping first order", () => {
    expect(dedupeSelectors([s("a:1"), s("b:1"), s("a:1")]).map(formatSelector)).toEqual(["a:1", "b:1"]);
  });
});

describe("selectorsSatisfy", () => {
  const available = [s("unix:uid:1000"), s("unix:gid:1000"), s("unix:user:app")];

  it("accepts a subset", () => {
    expect(selectorsSatisfy([s("unix:uid:1000")], available)).toBe(true);
  });

  it("accepts the full set", () => {
    expect(selectorsSatisfy(available, available)).toBe(true);
  });

  it("rejects a missing selector", () => {
    expect(selectorsSatisfy([s("unix:uid:1000"), s("unix:uid:0")], available)).toBe(false);
  });

  it("rejects a different value", () => {
    expect(selectorsSatisfy([s("unix:uid:0")], available)).toBe(false);
  });

  it("rejects empty required selectors", () => {
    expect(selectorsSatisfy([], available)).toBe(false);
  });

  it("rejects when nothing is available", () => {
    expect(selectorsSatisfy([s("unix:uid:0")], [])).toBe(false);
  });
});

describe("selectorSetMatches", () => {
  const entry = [s("a:1"), s("b:2")];
  const cases: Array<[SelectorMatch, Selector[], boolean]> = [
    ["exact", [s("a:1"), s("b:2")], true],
    ["exact", [s("b:2"), s("a:1"), s("a:1")], true],
    ["exact", [s("a:1")], false],
    ["exact", [s("a:1"), s("b:2"), s("c:3")], false],
    ["subset", [s("a:1"), s("b:2"), s("c:3")], true],
    ["subset", [s("a:1")], false],
    ["superset", [s("a:1")], true],
    ["superset", [], true],
    ["superset", [s("c:3")], false],
    ["any", [s("b:2"), s("c:3")], true],
    ["any", [s("c:3")], false],
    ["any", [], false],
  ];
  for (const [match, query, expected] of cases) {
    it(`${match} with ${query.map(formatSelector).join(",") || "nothing"} is ${expected}`, () => {
      expect(selectorSetMatches(entry, query, match)).toBe(expected);
    });
  }

  it("subset never matches an entry without selectors", () => {
    expect(selectorSetMatches([], [s("a:1")], "subset")).toBe(false);
  });
});
