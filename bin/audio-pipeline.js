#!/usr/bin/env node
// Registers tsx in-process so that the checkout runs its TypeScript sources with no build step
// and signals (Ctrl-C) reach the CLI itself, not a wrapper.
import { register } from 'tsx/esm/api';

register();
await import('../cli/main.ts');
