//! pgext-oci: proves a mounted tree is byte-for-byte the content of a pinned OCI image.
