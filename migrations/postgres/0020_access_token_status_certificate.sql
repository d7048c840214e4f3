-- 0020: the certificate an mTLS-authenticated client used when its access token is bound to a DPoP key instead
-- (RFC 9449 §6): the token still follows that certificate's OCSP/CRL status at introspection and userinfo.
ALTER TABLE access_tokens ADD COLUMN status_x5t TEXT;
