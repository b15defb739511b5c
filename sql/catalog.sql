-- Signed image catalogs (pgext.catalog).
CREATE VIEW pgext.catalog_status AS SELECT * FROM pgext.catalog_status();
CREATE VIEW pgext.image_catalog AS SELECT * FROM pgext.image_catalog();
COMMENT ON VIEW pgext.catalog_status IS
  'The image catalog of pgext.catalog and its cosign sign-blob bundle: verified (by a trusted key or keyless identity), unsigned, untrusted, invalid, unreadable, error, or off; only a verified catalog lists anything';
COMMENT ON VIEW pgext.image_catalog IS
  'Every mounted or pinned image judged against the signed catalog: is its digest one the catalog lists for this server''s PostgreSQL major and OS (what pgext.require = catalog enforces)';
COMMENT ON FUNCTION pgext.catalog_status() IS 'Rows of the view pgext.catalog_status';
COMMENT ON FUNCTION pgext.image_catalog() IS 'Rows of the view pgext.image_catalog';
REVOKE ALL ON FUNCTION pgext.catalog_status(), pgext.image_catalog() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgext.catalog_status(), pgext.image_catalog() TO pg_monitor, pgext_admin;
REVOKE ALL ON pgext.catalog_status, pgext.image_catalog FROM PUBLIC;
GRANT SELECT ON pgext.catalog_status, pgext.image_catalog TO pg_monitor, pgext_admin;
COMMENT ON COLUMN pgext.catalog_status.catalog IS 'The catalog file (pgext.catalog; NULL when it is not set)';
COMMENT ON COLUMN pgext.catalog_status.bundle IS 'Its Sigstore bundle (pgext.catalog_bundle, else the catalog''s path with .sigstore.json appended)';
COMMENT ON COLUMN pgext.catalog_status.status IS 'verified, unsigned (no bundle), untrusted (signed by no trusted key or identity), invalid (changed after signing, a broken bundle or log entry, or not a catalog), unreadable, error (a trust setting cannot be read) or off';
COMMENT ON COLUMN pgext.catalog_status.detail IS 'Why, in words: who signed it, or what failed';
COMMENT ON COLUMN pgext.catalog_status.signed_by IS 'The trusted key (key:sha256:…) or keyless identity (subject and issuer) that signed it, when verified';
COMMENT ON COLUMN pgext.catalog_status.signed_at IS 'When, from its verified transparency-log entry (keyless)';
COMMENT ON COLUMN pgext.catalog_status.sha256 IS 'SHA-256 of the catalog file as read';
COMMENT ON COLUMN pgext.catalog_status.catalog_name IS 'metadata.name of the verified catalog';
COMMENT ON COLUMN pgext.catalog_status.os IS 'The OS its images are for (label images.cnpg.io/os): it lists nothing for a server on another OS';
COMMENT ON COLUMN pgext.catalog_status.date IS 'Its date (label images.cnpg.io/date)';
COMMENT ON COLUMN pgext.catalog_status.for_this_server IS 'The references it lists for this server''s major and OS: the operand image and the extension images (NULL unless verified)';
COMMENT ON COLUMN pgext.image_catalog.name IS 'Image name: its directory below pgext.extensions_root';
COMMENT ON COLUMN pgext.image_catalog.reference IS 'The pin in effect (NULL: unpinned)';
COMMENT ON COLUMN pgext.image_catalog.digest IS 'The digest judged: the pin''s @sha256, else what the last verification of that pin resolved (when verified)';
COMMENT ON COLUMN pgext.image_catalog.in_catalog IS 'The signed catalog lists this digest for this server''s major and OS';
COMMENT ON COLUMN pgext.image_catalog.catalog_digest IS 'The digest the catalog lists for an extension of this name (else of the entry that matched)';
COMMENT ON COLUMN pgext.image_catalog.catalog_reference IS 'The reference of that catalog entry';
COMMENT ON COLUMN pgext.image_catalog.catalog_status IS 'The catalog''s status (pgext.catalog_status.status): only verified lists anything';
COMMENT ON COLUMN pgext.image_catalog.detail IS 'Why, in words';
