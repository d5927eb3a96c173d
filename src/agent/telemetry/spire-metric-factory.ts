import { Counter, Gauge, Summary } from "prom-client";
import type { Registry } from "prom-client";

import { prometheusName } from "./metric-names.js";

/** Label values of one observation, by label name. */
export type LabelValues = Readonly<Record<string, string>>;

/** Settings for {@link createSpireMetricFactory}. */
export interface SpireMetricFactoryOptions {
  registry: Registry;
  /** `MetricPrefix`, already checked: the first part of every metric name. */
  prefix: string;
  /** Labels with one fixed value added to every metric (`trust_domain` with `EnableTrustDomainLabel`). */
  commonLabels: LabelValues;
  /** Labels with one fixed value added to gauges only (`host` with `EnableHostnameLabel`), as SPIRE's metrics library does. */
  gaugeLabels: LabelValues;
}

/** A counter named after a SPIRE metric key. */
export interface SpireCounter {
  inc(labels?: LabelValues, value?: number): void;
}

/** A gauge named after a SPIRE metric key. */
export interface SpireGauge {
  set(labels: LabelValues, value: number): void;
  /** Drops every labelled value, so a label set that no longer exists stops being exported. */
  reset(): void;
}

/** A summary (SPIRE calls it a sample), exported with the 0.5, 0.9 and 0.99 quantiles of the last 10 s. */
export interface SpireSample {
  observe(labels: LabelValues, value: number): void;
}

/**
 * A SPIRE call counter: a counter `<key>` and a sample `<key>_elapsed_time` in
 * milliseconds, both with a `status` label that contains the gRPC status name of the call.
 */
export interface SpireCallCounter {
  record(labels: LabelValues, status: string, elapsedMs: number): void;
}

/** Creates metrics named and labelled as SPIRE's Prometheus output names them. */
export interface SpireMetricFactory {
  counter(key: readonly string[], help: string, labelNames?: readonly string[]): SpireCounter;
  /** `collect` runs before every scrape, so a gauge can be read from its source then. */
  gauge(key: readonly string[], help: string, labelNames?: readonly string[], collect?: (gauge: SpireGauge) => void): SpireGauge;
  sample(key: readonly string[], help: string, labelNames?: readonly string[]): SpireSample;
  callCounter(key: readonly string[], help: string, labelNames?: readonly string[]): SpireCallCounter;
}

/** Quantiles and window of SPIRE's Prometheus summaries (go-metrics: 0.5, 0.9, 0.99 over 10 s in 5 buckets). */
const SUMMARY_SETTINGS = { percentiles: [0.5, 0.9, 0.99], maxAgeSeconds: 10, ageBuckets: 5 };

/**
 * Creates the factory. Names are `<prefix>_<key parts joined by _>`; no counter gets a
 * `_total` suffix, because SPIRE's names have none and dashboards built for SPIRE look
 * for the bare name.
 */
export function createSpireMetricFactory(options: SpireMetricFactoryOptions): SpireMetricFactory {
  const { registry, prefix, commonLabels, gaugeLabels } = options;
  const registers = [registry];

  const withLabels = (extra: LabelValues, labels: LabelValues = {}): Record<string, string> => ({ ...labels, ...extra });
  const labelNamesWith = (extra: LabelValues, labelNames: readonly string[]): string[] => [...labelNames, ...Object.keys(extra)];

  function counter(key: readonly string[], help: string, labelNames: readonly string[] = []): SpireCounter {
    const metric = new Counter({ name: prometheusName(prefix, key), help, labelNames: labelNamesWith(commonLabels, labelNames), registers });
    return {
      inc: (labels, value = 1) => metric.inc(withLabels(commonLabels, labels), value),
    };
  }

  function gauge(key: readonly string[], help: string, labelNames: readonly string[] = [], collect?: (gauge: SpireGauge) => void): SpireGauge {
    const fixed = { ...commonLabels, ...gaugeLabels };
    const metric: Gauge = new Gauge({
      name: prometheusName(prefix, key),
      help,
      labelNames: labelNamesWith(fixed, labelNames),
      registers,
      // prom-client calls this on every scrape, before it reads the values.
      collect: collect === undefined ? undefined : () => collect(wrapper),
    });
    const wrapper: SpireGauge = {
      set: (labels, value) => metric.set(withLabels(fixed, labels), value),
      reset: () => metric.reset(),
    };
    return wrapper;
  }

  function sample(key: readonly string[], help: string, labelNames: readonly string[] = []): SpireSample {
    const metric = new Summary({ name: prometheusName(prefix, key), help, labelNames: labelNamesWith(commonLabels, labelNames), registers, ...SUMMARY_SETTINGS });
    return {
      observe: (labels, value) => metric.observe(withLabels(commonLabels, labels), value),
    };
  }

  function callCounter(key: readonly string[], help: string, labelNames: readonly string[] = []): SpireCallCounter {
    const calls = counter(key, help, [...labelNames, "status"]);
    const elapsed = sample([...key, "elapsed_time"], `Duration in milliseconds of: ${help}`, [...labelNames, "status"]);
    return {
      record(labels, status, elapsedMs) {
        const withStatus = { ...labels, status };
        calls.inc(withStatus);
        elapsed.observe(withStatus, elapsedMs);
      },
    };
  }

  return { counter, gauge, sample, callCounter };
}
