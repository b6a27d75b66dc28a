/** Request headers the API defines, with the rule each value follows (one place for code and document). */

/** `Repeatability-Request-ID`: 1-128 characters of `[A-Za-z0-9._:-]`. */
export const REPEATABILITY_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;
