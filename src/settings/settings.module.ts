import { Module } from '@nestjs/common';
import { SettingsController } from './settings.controller';

/** The Settings → Configuration page (static; it works through the REST API). */
@Module({ controllers: [SettingsController] })
export class SettingsModule {}
