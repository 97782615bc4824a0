/**
 * Kafka URLs of the CLI: `kafka://[user:password@]host:port[,host:port…]/topic[?options]`, or
 * `kafkas://…` for TLS. A WHATWG URL cannot hold several hosts, so the URL is split by hand.
 *
 * Options of every Kafka URL: `tls=true`, `ca=<file>` (PEM, implies TLS), `sasl=plain|
 * scram-sha-256|scram-sha-512` (default `plain` when credentials are given). Sinks also take
 * `format`, `schemas`, `schemaNamePrefix`, `compression`, `onTruncate`, `controlRecords`, `controlTopic`,
 * `idempotent`, `createTopic`, `transactions` and `transactionalId`; sources take `globalOrder` and `controlTopic`. Any other parameter is a usage error naming the accepted ones (a misspelt
 * `onTruncate=fail` must not be ignored).
 */
import { readFileSync } from 'node:fs';
import { redactSecrets } from '../sdk/errors.js';
import type { KafkaConnectionOptions, KafkaSinkOptions, KafkaSourceOptions } from '../connectors/kafka/index.js';
import { CliError, EXIT } from './errors.js';

/** The sink and source options a Kafka URL can set (only those of its flag's role are set). */
export type KafkaUrlOptions = Pick<
  KafkaSinkOptions,
  | 'format'
  | 'schemas'
  | 'schemaNamePrefix'
  | 'compression'
  | 'onTruncate'
  | 'controlRecords'
  | 'controlTopic'
  | 'idempotent'
  | 'createTopic'
  | 'transactions'
  | 'transactionalId'
> &
  Pick<KafkaSourceOptions, 'globalOrder'>;

/** What a Kafka URL says: how to connect, the topic, its options, and all its query parameters. */
export interface KafkaUrl {
  connection: KafkaConnectionOptions;
  topic: string;
  /** The role's options given in the URL, validated. */
  options: KafkaUrlOptions;
  params: URLSearchParams;
}

const MECHANISMS = ['plain', 'scram-sha-256', 'scram-sha-512'] as const;

/** A URL parameter: its allowed values (`boolean`: true or false; `text`: any non-empty text). */
type ParamValues = readonly string[] | 'boolean' | 'text';

/** Read by {@link parseKafkaUrl} itself, for every role. */
const CONNECTION_PARAMS = ['tls', 'ca', 'sasl'];

/** Per flag: what the URL names, and the options it takes. */
const ROLE_PARAMS: Record<string, { what: string; params: Partial<Record<keyof KafkaUrlOptions, ParamValues>> }> = {
  '--sink': {
    what: 'sink',
    params: {
      format: ['json', 'debezium', 'arrow'],
      schemas: 'boolean',
      schemaNamePrefix: 'text',
      compression: ['none', 'gzip'],
      onTruncate: ['control-record', 'fail'],
      controlRecords: 'boolean',
      controlTopic: 'text',
      idempotent: 'boolean',
      createTopic: 'boolean',
      transactions: 'boolean',
      transactionalId: 'text',
    },
  },
  '--source': { what: 'source', params: { globalOrder: 'boolean', controlTopic: 'text' } },
  '--checkpoint': { what: 'checkpoint', params: {} },
};

/**
 * The role's options from `params`; unknown or repeated parameters and bad values are usage
 * errors. Parameter values are not echoed for unknown names (a misplaced one may be a secret).
 */
function roleOptions(flag: string, params: URLSearchParams): KafkaUrlOptions {
  const role = ROLE_PARAMS[flag] ?? { what: '', params: {} };
  const accepted = [...Object.keys(role.params), ...CONNECTION_PARAMS];
  const seen = new Set<string>();
  const options: Record<string, string | boolean> = {};
  for (const [name, value] of params) {
    if (!accepted.includes(name)) {
      throw new CliError(
        `${flag}: unknown parameter "${name}" in the Kafka ${role.what ? `${role.what} ` : ''}URL; accepted: ${accepted.join(', ')}`,
        EXIT.badUsage,
      );
    }
    if (seen.has(name)) throw new CliError(`${flag}: parameter "${name}" is given twice in the Kafka URL`, EXIT.badUsage);
    seen.add(name);
    const values = role.params[name as keyof KafkaUrlOptions];
    if (values === undefined) continue; // a connection parameter, read below
    if (values === 'boolean') {
      if (value !== 'true' && value !== 'false') throw new CliError(`${flag}: ${name}=${value} must be true or false`, EXIT.badUsage);
      options[name] = value === 'true';
    } else if (values === 'text') {
      if (value === '') throw new CliError(`${flag}: ${name}= needs a value`, EXIT.badUsage);
      options[name] = value;
    } else {
      if (!values.includes(value)) throw new CliError(`${flag}: ${name}=${value} is not one of ${values.join(', ')}`, EXIT.badUsage);
      options[name] = value;
    }
  }
  return options as KafkaUrlOptions;
}

/** True for the URLs this module reads. */
export function isKafkaUrl(spec: string): boolean {
  return /^kafkas?:\/\//i.test(spec);
}

/** Parses a Kafka URL given to `flag`; errors name the flag and never show the password. */
export function parseKafkaUrl(flag: string, spec: string): KafkaUrl {
  const shown = redactSecrets(spec);
  // The credentials end at the last `@` before the first `/` or `?`: a password may hold `@`,
  // `#` and `:` unencoded, and then none of it must end up in a broker name.
  const match = /^(kafkas?):\/\/(?:([^/?]*)@)?([^@/?#]+)\/([^@?#]*)(?:\?([^#]*))?$/i.exec(spec);
  if (!match) {
    throw new CliError(
      `${flag}: ${shown} is not a Kafka URL; use kafka://host:port[,host:port]/topic, with credentials as user:password@ before the hosts (percent-encode / and ? in them, e.g. / as %2F)`,
      EXIT.badUsage,
    );
  }
  const [, scheme, userinfo, hosts, path, query] = match as unknown as [
    string,
    string,
    string | undefined,
    string,
    string,
    string | undefined,
  ];
  const topic = decodeURIComponent(path);
  if (!topic) throw new CliError(`${flag}: ${shown} names no topic; use kafka://host:port/topic`, EXIT.badUsage);
  const brokers = hosts.split(',').map((h) => h.trim());
  for (const broker of brokers) {
    if (!/^(\[[0-9a-f:.]+\]|[^:\s[\]]+):\d{1,5}$/i.test(broker)) {
      throw new CliError(`${flag}: broker "${broker}" in ${shown} is not host:port (list several as host1:9092,host2:9092)`, EXIT.badUsage);
    }
  }
  const params = new URLSearchParams(query ?? '');
  const options = roleOptions(flag, params);
  const connection: KafkaConnectionOptions = { brokers };

  const ca = params.get('ca');
  const tls = scheme.toLowerCase() === 'kafkas' || params.get('tls') === 'true' || ca !== null;
  if (params.get('tls') !== null && !['true', 'false'].includes(params.get('tls')!)) {
    throw new CliError(`${flag}: tls=${params.get('tls')} must be true or false`, EXIT.badUsage);
  }
  if (tls) {
    if (ca !== null) {
      let pem: string;
      try {
        pem = readFileSync(ca, 'utf8');
      } catch (error) {
        throw new CliError(
          `${flag}: cannot read the CA file ${ca} (${(error as NodeJS.ErrnoException).code ?? 'error'}); ca= takes a PEM file path`,
          EXIT.badUsage,
        );
      }
      connection.ssl = { ca: pem };
    } else connection.ssl = true;
  }

  const mechanism = params.get('sasl');
  if (mechanism !== null && !(MECHANISMS as readonly string[]).includes(mechanism)) {
    throw new CliError(`${flag}: sasl=${mechanism} is not one of ${MECHANISMS.join(', ')}`, EXIT.badUsage);
  }
  if (userinfo !== undefined && userinfo !== '') {
    const colon = userinfo.indexOf(':');
    if (colon < 0)
      throw new CliError(`${flag}: ${shown} has a user but no password (kafka://user:password@host:port/topic)`, EXIT.badUsage);
    const decode = (part: string, what: string) => {
      try {
        return decodeURIComponent(part);
      } catch {
        throw new CliError(`${flag}: the ${what} in ${shown} has a % not followed by two hex digits; write % as %25`, EXIT.badUsage);
      }
    };
    connection.sasl = {
      mechanism: (mechanism ?? 'plain') as (typeof MECHANISMS)[number],
      username: decode(userinfo.slice(0, colon), 'user'),
      password: decode(userinfo.slice(colon + 1), 'password'),
    };
  } else if (mechanism !== null) {
    throw new CliError(`${flag}: sasl=${mechanism} needs credentials: kafka://user:password@host:port/topic`, EXIT.badUsage);
  }
  return { connection, topic, options, params };
}
