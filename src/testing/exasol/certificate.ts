/**
 * Self-signed certificates for the test server. The implementation lives with the Exasol
 * connector, which needs the same certificates for its TLS tunnel endpoints.
 */
export { createSelfSignedCertificate, publicKeyPin } from '../../connectors/exasol/tls-certificate.js';
export type { SelfSignedCertificate } from '../../connectors/exasol/tls-certificate.js';
