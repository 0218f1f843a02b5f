import { QueryFailedError } from 'typeorm';
import { isConnectionError } from './database';

/** The shapes mysql2 and TypeORM 1 actually throw when the link to MariaDB is cut (see test/faults.e2e-spec.ts). */
describe('isConnectionError', () => {
  const driver = (props: Record<string, unknown>, message: string) => Object.assign(new Error(message), props);
  const wrapped = (err: Error) => new QueryFailedError('SELECT 1', [], err);

  it.each([
    ['a query in flight when the link drops', wrapped(driver({ code: 'PROTOCOL_CONNECTION_LOST', fatal: true }, 'Connection lost: The server closed the connection.'))],
    ['the next query of a transaction on the dead connection', wrapped(driver({ fatal: true }, "Can't add new command when connection is in closed state"))],
    ['a new connection refused (unwrapped socket error)', driver({ code: 'ECONNREFUSED', errno: -111, fatal: true }, 'connect ECONNREFUSED 127.0.0.1:3306')],
    ['a connect timeout', driver({ code: 'ETIMEDOUT', fatal: true }, 'connect ETIMEDOUT')],
    ['a reset', driver({ code: 'ECONNRESET' }, 'read ECONNRESET')],
    ['too many connections', wrapped(driver({ code: 'ER_CON_COUNT_ERROR' }, 'Too many connections'))],
    ['any other fatal driver error', wrapped(driver({ code: 'PROTOCOL_PACKETS_OUT_OF_ORDER', fatal: true }, 'Packets out of order'))],
    ['a closed pool', new Error('Pool is closed.')],
  ])('true for %s', (_what, err) => expect(isConnectionError(err)).toBe(true));

  it.each([
    ['a duplicate key', wrapped(driver({ code: 'ER_DUP_ENTRY', errno: 1062, fatal: false }, "Duplicate entry 'x' for key 'PRIMARY'"))],
    ['a trigger refusing an insert', wrapped(driver({ code: 'ER_SIGNAL_EXCEPTION', errno: 1644 }, 'audit down'))],
    ['a SQLite constraint', wrapped(driver({ code: 'SQLITE_CONSTRAINT_UNIQUE' }, 'UNIQUE constraint failed'))],
    ['a plain bug', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['nothing', undefined],
  ])('false for %s', (_what, err) => expect(isConnectionError(err)).toBe(false));
});
