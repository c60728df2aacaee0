/** The HS256 secret, issuer and audience every realtime test server trusts. */
export const SECRET = "test-secret-test-secret-test-secret-42";
export const ISSUER = "https://issuer.test";
export const AUDIENCE = "kiln-tests";
