import type { CliCommand } from '../command';
import { exportCommand } from './export';
import { importCommand } from './import';
import { migrateCommand } from './migrate';
import { rotateKeyCommand } from './rotate-key';
import { scanCommand } from './scan';
import { tokensCreateCommand, tokensListCommand } from './tokens';

/** Every `bifrost` subcommand, in the order of `bifrost --help`: a new one is one more entry. */
export const COMMANDS: CliCommand[] = [exportCommand, importCommand, rotateKeyCommand, tokensCreateCommand, tokensListCommand, migrateCommand, scanCommand];
