/**
 * Workflow histories as JSON files, for the replay test (test/histories/).
 *
 * Written with the proto classes' own JSON mapping (enums as names, 64-bit integers and
 * timestamps' seconds as strings, bytes as base64), not with `historyToJSON` /
 * `historyFromJSON` of @temporalio/common: in this dependency tree @temporalio/common and
 * @temporalio/proto each get their own copy of protobufjs 8 (the top level holds 7 for other
 * packages), and those two helpers then fail with "type must be a Type".
 */
import { readFile, writeFile } from 'node:fs/promises';
import proto, { type temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
const HistoryProto = proto.temporal.api.history.v1.History;

export async function writeHistoryFile(file: string, history: History): Promise<void> {
  const json = HistoryProto.toObject(HistoryProto.fromObject(history), {
    longs: String,
    enums: String,
    bytes: String,
  });
  await writeFile(file, JSON.stringify(json, null, 1) + '\n');
}

export async function readHistoryFile(file: string): Promise<temporal.api.history.v1.History> {
  return HistoryProto.fromObject(JSON.parse(await readFile(file, 'utf8')));
}
