-- SBOM and build provenance (issue #28): the attestations each verification read, judged like
-- signatures; the packages of their SPDX and CycloneDX SBOMs and the builds of their SLSA provenance.
-- Replaced by every verification that read the source; a recheck keeps them.
ALTER TABLE pgext.image_checks ADD COLUMN attestations_detail text;
COMMENT ON COLUMN pgext.image_checks.attestations_detail IS
  'The attestations the last verification read: kind (source, trust) each, those ignored (another digest), or why they could not be read';

CREATE TABLE pgext.image_attestations (
    image pgext.image_name NOT NULL,
    attestation int NOT NULL,
    source text NOT NULL,
    kind text NOT NULL,
    predicate_type text NOT NULL,
    statement_digest text,
    subject_digest text,
    trust text NOT NULL,
    signed_by text,
    signed_at timestamptz,
    detail text,
    PRIMARY KEY (image, attestation)
);
COMMENT ON TABLE pgext.image_attestations IS
  'In-toto attestations of each pinned image (BuildKit attestation manifests in the index, cosign .att envelopes, Sigstore bundle referrers), from its last verification';
COMMENT ON COLUMN pgext.image_attestations.image IS 'Image name';
COMMENT ON COLUMN pgext.image_attestations.attestation IS 'Its number, in the order found (image_packages and image_provenance refer to it)';
COMMENT ON COLUMN pgext.image_attestations.source IS 'Where it was found: buildkit (an attestation manifest in the image index), cosign (the sha256-<hex>.att tag) or referrer (a Sigstore bundle, OCI 1.1 referrer)';
COMMENT ON COLUMN pgext.image_attestations.kind IS 'sbom, provenance, vex, or the predicate type; unreadable for one that could not be read';
COMMENT ON COLUMN pgext.image_attestations.predicate_type IS 'The in-toto statement''s predicate type';
COMMENT ON COLUMN pgext.image_attestations.statement_digest IS 'SHA-256 of the statement''s bytes';
COMMENT ON COLUMN pgext.image_attestations.subject_digest IS 'The subject digest that made it this image''s: the pinned digest, or the platform''s manifest of a pinned index';
COMMENT ON COLUMN pgext.image_attestations.trust IS 'signed (its signature verifies against pgext.trusted_keys or the keyless policy), index_signed (BuildKit''s, in an index whose pinned digest carries a trusted signature), unsigned (BuildKit''s, in an index nobody trusted signed), untrusted or invalid';
COMMENT ON COLUMN pgext.image_attestations.signed_by IS 'Trusted key or keyless identity that signed it (for index_signed: the index''s signer); NULL unless signed or index_signed';
COMMENT ON COLUMN pgext.image_attestations.signed_at IS 'Integrated time of a keyless signature''s transparency-log entry';
COMMENT ON COLUMN pgext.image_attestations.detail IS 'Why it got its trust, or what is wrong with it';

CREATE TABLE pgext.image_packages (
    image pgext.image_name NOT NULL,
    attestation int NOT NULL,
    source text NOT NULL,
    trust text NOT NULL,
    signed_by text,
    package_id text NOT NULL,
    name text NOT NULL,
    version text,
    purl text,
    license text,
    supplier text,
    files text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (image, attestation, package_id)
);
CREATE INDEX image_packages_name ON pgext.image_packages (name);
COMMENT ON TABLE pgext.image_packages IS
  'Packages of each pinned image, from the SPDX and CycloneDX SBOMs its last verification read (one row per package and SBOM)';
COMMENT ON INDEX pgext.image_packages_name IS 'Which images ship a package';
COMMENT ON COLUMN pgext.image_packages.image IS 'Image name';
COMMENT ON COLUMN pgext.image_packages.attestation IS 'The SBOM it comes from (pgext.image_attestations.attestation)';
COMMENT ON COLUMN pgext.image_packages.source IS 'Where the SBOM was found: buildkit, cosign or referrer';
COMMENT ON COLUMN pgext.image_packages.trust IS 'The SBOM''s trust (pgext.image_attestations.trust)';
COMMENT ON COLUMN pgext.image_packages.signed_by IS 'Who signed the SBOM, when trusted';
COMMENT ON COLUMN pgext.image_packages.package_id IS 'The package''s identifier in the document: its SPDX identifier, or its CycloneDX bom-ref (component-<n>, its place in document order, when it has none)';
COMMENT ON COLUMN pgext.image_packages.name IS 'Package name';
COMMENT ON COLUMN pgext.image_packages.version IS 'Package version (SPDX versionInfo, CycloneDX version)';
COMMENT ON COLUMN pgext.image_packages.purl IS 'Package URL (SPDX: the purl external reference; CycloneDX: purl)';
COMMENT ON COLUMN pgext.image_packages.license IS 'SPDX: licenseConcluded, else licenseDeclared (NULL for NOASSERTION or NONE); CycloneDX: the expression, or the license ids or names listed (comma-separated), only those acknowledged concluded when there are any';
COMMENT ON COLUMN pgext.image_packages.supplier IS 'Supplier as the SBOM writes it (SPDX: Organization: …, Person: …; CycloneDX: the supplier''s name, else the publisher)';
COMMENT ON COLUMN pgext.image_packages.files IS 'Image-relative paths of the files the package contains, where the SBOM says (SPDX: CONTAINS / CONTAINED_BY relationships, hasFiles; CycloneDX: nested file components, evidence occurrences)';

CREATE TABLE pgext.image_provenance (
    image pgext.image_name NOT NULL,
    attestation int NOT NULL,
    source text NOT NULL,
    trust text NOT NULL,
    signed_by text,
    signed_at timestamptz,
    predicate_type text NOT NULL,
    builder_id text,
    build_type text,
    source_repository text,
    source_commit text,
    workflow text,
    built_at timestamptz,
    invocation_id text,
    PRIMARY KEY (image, attestation)
);
COMMENT ON TABLE pgext.image_provenance IS
  'Build provenance of each pinned image, from the SLSA provenance (v0.2, v1) its last verification read; pgext.require = provenance judges it against pgext.trusted_builders';
COMMENT ON COLUMN pgext.image_provenance.image IS 'Image name';
COMMENT ON COLUMN pgext.image_provenance.attestation IS 'The attestation it comes from (pgext.image_attestations.attestation)';
COMMENT ON COLUMN pgext.image_provenance.source IS 'Where it was found: buildkit, cosign or referrer';
COMMENT ON COLUMN pgext.image_provenance.trust IS 'signed, index_signed, unsigned, untrusted or invalid (pgext.image_attestations.trust); only signed and index_signed count for pgext.require = provenance';
COMMENT ON COLUMN pgext.image_provenance.signed_by IS 'Who signed it, when trusted; NULL for unsigned BuildKit provenance';
COMMENT ON COLUMN pgext.image_provenance.signed_at IS 'Integrated time of a keyless signature''s transparency-log entry';
COMMENT ON COLUMN pgext.image_provenance.predicate_type IS 'https://slsa.dev/provenance/v0.2 or https://slsa.dev/provenance/v1';
COMMENT ON COLUMN pgext.image_provenance.builder_id IS 'The builder''s id (builder.id, runDetails.builder.id)';
COMMENT ON COLUMN pgext.image_provenance.build_type IS 'The build type (buildType)';
COMMENT ON COLUMN pgext.image_provenance.source_repository IS 'The source repository built (config source, workflow repository, BuildKit VCS metadata or git material), without git+, .git or a revision';
COMMENT ON COLUMN pgext.image_provenance.source_commit IS 'The commit built';
COMMENT ON COLUMN pgext.image_provenance.workflow IS 'The workflow (path@ref) or build file (entryPoint, path) that ran the build';
COMMENT ON COLUMN pgext.image_provenance.built_at IS 'When the build finished (else started)';
COMMENT ON COLUMN pgext.image_provenance.invocation_id IS 'The build''s invocation id (e.g. a CI run)';

-- The libraries pgext found, with the package that owns each file where an SBOM says so.
CREATE VIEW pgext.library_packages AS
SELECT l.path, l.basename, l.image, p.name AS package, p.version, p.purl, p.license, p.supplier,
       p.source, p.trust, p.attestation
  FROM pgext.libraries l
  JOIN pgext.image_packages p ON p.image OPERATOR(pg_catalog.=) l.image
 WHERE EXISTS (SELECT 1 FROM pg_catalog.unnest(p.files) f
                WHERE pg_catalog."right"(l.path, pg_catalog.length(f) + 1) OPERATOR(pg_catalog.=) ('/' OPERATOR(pg_catalog.||) f));
COMMENT ON VIEW pgext.library_packages IS
  'Each library of pgext.libraries from a mounted image, with the SBOM package that contains its file';
COMMENT ON COLUMN pgext.library_packages.path IS 'The library (pgext.libraries.path)';
COMMENT ON COLUMN pgext.library_packages.basename IS 'Its file name';
COMMENT ON COLUMN pgext.library_packages.image IS 'The image it is in';
COMMENT ON COLUMN pgext.library_packages.package IS 'The package whose files include it';
COMMENT ON COLUMN pgext.library_packages.version IS 'The package''s version';
COMMENT ON COLUMN pgext.library_packages.purl IS 'The package''s purl';
COMMENT ON COLUMN pgext.library_packages.license IS 'The package''s license';
COMMENT ON COLUMN pgext.library_packages.supplier IS 'The package''s supplier';
COMMENT ON COLUMN pgext.library_packages.source IS 'Where the SBOM was found';
COMMENT ON COLUMN pgext.library_packages.trust IS 'The SBOM''s trust';
COMMENT ON COLUMN pgext.library_packages.attestation IS 'The SBOM (pgext.image_attestations.attestation)';

GRANT SELECT, INSERT, UPDATE, DELETE ON pgext.image_attestations, pgext.image_packages, pgext.image_provenance
  TO pgext_admin;
REVOKE ALL ON pgext.image_attestations, pgext.image_packages, pgext.image_provenance, pgext.library_packages
  FROM PUBLIC;
GRANT SELECT ON pgext.image_attestations, pgext.image_packages, pgext.image_provenance, pgext.library_packages
  TO pg_monitor, pgext_admin;
CREATE TRIGGER policy_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON pgext.image_provenance
  FOR EACH STATEMENT EXECUTE FUNCTION pgext.policy_changed();
COMMENT ON TRIGGER policy_changed ON pgext.image_provenance IS 'Drops cached enforcement decisions in every backend';
