import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/** Registered on the dev server by temporal-dev/ so the Web UI can filter by date and status. */
export const AUDIO_DATE = defineSearchAttributeKey('AudioDate', SearchAttributeType.KEYWORD);
export const PIPELINE_STATUS = defineSearchAttributeKey('PipelineStatus', SearchAttributeType.KEYWORD);
