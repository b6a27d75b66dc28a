/** Custom events of the drift service that alert rules query (infra/src/alerts.ts). */
export const DRIFT_SCAN_STARTED = 'DriftScanStarted';
export const DRIFT_SCAN_FINISHED = 'DriftScanFinished';
