-- 0019: the algorithm a resource server's JWT introspection responses are signed with (RFC 9701 §6
-- introspection_signed_response_alg); resource servers registered before keep the default, PS256.
ALTER TABLE resource_servers ADD COLUMN introspection_signed_response_alg TEXT NOT NULL DEFAULT 'PS256';
