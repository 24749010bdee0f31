/** DESIGN.md §2. Workers poll these; a deployment may override them through the workflow input. */
export const CPU_TASK_QUEUE = 'audio-pipeline';
export const GPU_TASK_QUEUE = 'audio-pipeline-gpu';
