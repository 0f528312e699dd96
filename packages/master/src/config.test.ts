import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';

const load = (argv: string[], env: Record<string, string> = {}) => loadConfig({ argv, env, cwd: '/srv' });

describe('master config', () => {
  it('has defaults that start on a bare machine', () => {
    const result = load([]);
    if (result.kind !== 'config') throw new Error('expected a config');
    const { config } = result;
    expect(config.dataDir).toBe('/srv/edgestelle-data');
    expect(config.databaseUrl).toBe('sqlite:/srv/edgestelle-data/edgestelle.db');
    expect(config.httpHost).toBe('127.0.0.1');
    expect(config.httpPort).toBe(8080);
    expect(config.mqttHost).toBe('127.0.0.1');
    expect(config.mqttPort).toBeUndefined();
    expect(config.httpMaxConnections).toBe(1000);
    expect(config.mqttMaxUnauthenticated).toBeUndefined();
    expect(Object.isFrozen(config)).toBe(true);
  });

  it('lets flags win over the environment', () => {
    const result = load(['--http-port', '9000'], { EDGESTELLE_HTTP_PORT: '7000', EDGESTELLE_MQTT_PORT: '1999' });
    if (result.kind !== 'config') throw new Error('expected a config');
    expect(result.config.httpPort).toBe(9000);
    expect(result.config.mqttPort).toBe(1999);
  });

  it('names every bad value at once, by its environment variable', () => {
    let message = '';
    try {
      load([], { EDGESTELLE_HTTP_PORT: 'eighty', EDGESTELLE_LOG_LEVEL: 'loud', EDGESTELLE_TOPIC_PREFIX: 'a/+/b' });
    } catch (err) {
      message = String(err);
    }
    for (const name of ['EDGESTELLE_HTTP_PORT', 'EDGESTELLE_LOG_LEVEL', 'EDGESTELLE_TOPIC_PREFIX']) {
      expect(message).toContain(name);
    }
  });

  it('refuses an external broker together with an embedded port or limit, and unknown flags', () => {
    expect(() => load(['--mqtt-url', 'mqtt://broker:1883', '--mqtt-port', '1884'])).toThrow(/exclude each other/);
    expect(() => load(['--mqtt-url', 'mqtt://broker:1883', '--mqtt-max-unauthenticated', '50'])).toThrow(
      /exclude each other/,
    );
    expect(() => load(['--no-such-flag'])).toThrow(/no-such-flag/);
    expect(() => load([], { EDGESTELLE_MQTT_SHARED: '1' })).toThrow(/external broker/);
  });

  it('takes switches without a value', () => {
    const result = load(['--mqtt-url', 'mqtt://broker:1883', '--mqtt-shared']);
    if (result.kind !== 'config') throw new Error('expected a config');
    expect(result.config.mqttShared).toBe(true);
    expect(result.config.mqttDynsec).toBe(false);
  });

  it('reads the connection caps and refuses one under 1', () => {
    const result = load(['--http-max-connections', '200'], { EDGESTELLE_MQTT_MAX_UNAUTHENTICATED: '300' });
    if (result.kind !== 'config') throw new Error('expected a config');
    expect(result.config.httpMaxConnections).toBe(200);
    expect(result.config.mqttMaxUnauthenticated).toBe(300);
    expect(() => load([], { EDGESTELLE_HTTP_MAX_CONNECTIONS: '0' })).toThrow(/EDGESTELLE_HTTP_MAX_CONNECTIONS/);
  });

  it('answers --help', () => {
    expect(load(['--help']).kind).toBe('help');
  });

  it('reads retention settings: days, a size with a unit, a cron schedule checked at start', () => {
    const result = load([], { EDGESTELLE_RETENTION_DAYS: '30', EDGESTELLE_RETENTION_MAX_BYTES: '20G' });
    if (result.kind !== 'config') throw new Error('expected a config');
    expect(result.config.retentionDays).toBe(30);
    expect(result.config.retentionMaxBytes).toBe(20 * 1024 ** 3);
    expect(result.config.retentionSchedule).toBe('0 3 * * *');
    expect(() =>
      load([], { EDGESTELLE_RETENTION_SCHEDULE: 'every night', EDGESTELLE_RETENTION_MAX_BYTES: 'lots' }),
    ).toThrow(
      /EDGESTELLE_RETENTION_SCHEDULE.*EDGESTELLE_RETENTION_MAX_BYTES|EDGESTELLE_RETENTION_MAX_BYTES.*EDGESTELLE_RETENTION_SCHEDULE/,
    );
  });
});
