-- A store database written by schema version 1 (images, containers, volumes, build cache
-- all created by the store), kept to test the migration on first open.
PRAGMA user_version = 1;
BEGIN TRANSACTION;
CREATE TABLE build_cache (
    key TEXT PRIMARY KEY,             -- digest of parent state + instruction + inputs
    value TEXT NOT NULL,              -- JSON: what the step produced
    created TEXT NOT NULL,
    last_used TEXT NOT NULL
);
INSERT INTO "build_cache" VALUES('sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff','{"blob": "sha256:9999999999999999999999999999999999999999999999999999999999999999", "blobs": ["sha256:9999999999999999999999999999999999999999999999999999999999999999"], "diff_id": "sha256:7777777777777777777777777777777777777777777777777777777777777777", "size": 5, "snapshots": ["sha256:8888888888888888888888888888888888888888888888888888888888888888"]}','2024-01-04T00:00:00Z','2024-01-04T00:00:00Z');
INSERT INTO "build_cache" VALUES('sha256:6666666666666666666666666666666666666666666666666666666666666666','{"created": "x", "empty": true}','2024-01-04T00:00:00Z','2024-01-04T00:00:00Z');
CREATE TABLE containers (
    id TEXT PRIMARY KEY,
    name TEXT UNIQUE NOT NULL,
    image_id TEXT NOT NULL,
    created TEXT NOT NULL,
    config TEXT NOT NULL,             -- JSON
    state TEXT NOT NULL               -- JSON
);
INSERT INTO "containers" VALUES('eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee','old','sha256:1111111111111111111111111111111111111111111111111111111111111111','2024-01-03T00:00:00Z','{"Id": "eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee", "Image": "sha256:1111111111111111111111111111111111111111111111111111111111111111", "Mounts": [{"Type": "volume", "Name": "v1", "Source": "/x", "Destination": "/data"}]}','{"Running": false}');
CREATE TABLE images (
    id TEXT PRIMARY KEY,              -- config digest: the image ID
    manifest_digest TEXT NOT NULL,
    created TEXT NOT NULL,            -- the config's "created"
    size INTEGER NOT NULL,            -- unpacked size of all layers
    added TEXT NOT NULL               -- when this store got it
);
INSERT INTO "images" VALUES('sha256:1111111111111111111111111111111111111111111111111111111111111111','sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa','2024-01-01T00:00:00Z',100,'2024-01-02T00:00:00Z');
INSERT INTO "images" VALUES('sha256:2222222222222222222222222222222222222222222222222222222222222222','sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb','2024-01-01T00:00:00Z',200,'2024-01-02T00:00:00Z');
CREATE TABLE repo_digests (
    name TEXT NOT NULL,               -- repository@digest of the manifest in a registry
    image_id TEXT NOT NULL REFERENCES images(id),
    PRIMARY KEY (name)
);
CREATE TABLE snapshots (
    chain_id TEXT PRIMARY KEY,
    parent TEXT,
    diff_id TEXT NOT NULL,
    size INTEGER NOT NULL
);
INSERT INTO "snapshots" VALUES('sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc',NULL,'sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd',100);
CREATE TABLE tags (
    name TEXT PRIMARY KEY,            -- normalised reference, docker.io/library/busybox:latest
    image_id TEXT NOT NULL REFERENCES images(id)
);
INSERT INTO "tags" VALUES('docker.io/library/used:1','sha256:1111111111111111111111111111111111111111111111111111111111111111');
INSERT INTO "tags" VALUES('docker.io/library/spare:1','sha256:2222222222222222222222222222222222222222222222222222222222222222');
CREATE TABLE volumes (
    name TEXT PRIMARY KEY,
    created TEXT NOT NULL,
    driver TEXT NOT NULL DEFAULT 'local',
    labels TEXT NOT NULL DEFAULT '{}',
    options TEXT NOT NULL DEFAULT '{}'
);
INSERT INTO "volumes" VALUES('v1','2024-01-03T00:00:00Z','local','{}','{}');
CREATE INDEX tags_image ON tags(image_id);
COMMIT;
