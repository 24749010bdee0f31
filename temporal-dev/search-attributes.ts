/**
 * The custom search attributes the pipeline's workflows set (DESIGN.md §6: the date and the
 * status are searchable in the Web UI and with `temporal workflow list --query`).
 * Registered at dev-server start (`--search-attribute`), and on a reused server if missing.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** name → type as the CLI's `--search-attribute NAME=TYPE` spells it. */
export const PIPELINE_SEARCH_ATTRIBUTES = {
  AudioDate: 'Keyword',
  PipelineStatus: 'Keyword',
} as const;

export const AUDIO_DATE = defineSearchAttributeKey('AudioDate', SearchAttributeType.KEYWORD);
export const PIPELINE_STATUS = defineSearchAttributeKey('PipelineStatus', SearchAttributeType.KEYWORD);

/** For TestWorkflowEnvironment.createLocal({ server: { searchAttributes } }). */
export const PIPELINE_SEARCH_ATTRIBUTE_KEYS = [AUDIO_DATE, PIPELINE_STATUS];
