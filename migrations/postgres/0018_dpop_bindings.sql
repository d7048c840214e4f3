-- 0018: DPoP (RFC 9449). The RFC 7638 JWK SHA-256 thumbprint a token is bound to (§6, cnf.jkt), the key an
-- authorization code is bound to (§10: dpop_jkt or the PAR proof's key), and the key a refresh token's first
-- tokens were bound to (refresh tokens stay bound to the client, §5; the column says a proof is required).
ALTER TABLE access_tokens ADD COLUMN cnf_jkt TEXT;
ALTER TABLE authorization_codes ADD COLUMN dpop_jkt TEXT;
ALTER TABLE refresh_tokens ADD COLUMN dpop_jkt TEXT;
