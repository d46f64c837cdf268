-- Sqitch's registry (schema sqitch) as `sqitch deploy` / `sqitch revert` write it with the pg
-- engine (App::Sqitch 1.3.1: Engine/pg.sql, Engine/pg.pm, Role/DBIEngine.pm). gonogo.tools.sqitch
-- runs these in the change's own transaction, so a row here always means the change committed.

-- name: sqitch_registry
-- Sqitch's own DDL (App/Sqitch/Engine/pg.sql, registry "sqitch", no table options), which
-- `sqitch deploy` runs on a database without a registry; the file's BEGIN/COMMIT and its
-- session-wide SET are left out: it runs inside the change's transaction.
CREATE SCHEMA IF NOT EXISTS sqitch;

COMMENT ON SCHEMA sqitch IS 'Sqitch database deployment metadata v1.1.';

CREATE TABLE sqitch.releases (
    version         REAL        PRIMARY KEY,
    installed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    installer_name  TEXT        NOT NULL,
    installer_email TEXT        NOT NULL
);

COMMENT ON TABLE  sqitch.releases                 IS 'Sqitch registry releases.';
COMMENT ON COLUMN sqitch.releases.version         IS 'Version of the Sqitch registry.';
COMMENT ON COLUMN sqitch.releases.installed_at    IS 'Date the registry release was installed.';
COMMENT ON COLUMN sqitch.releases.installer_name  IS 'Name of the user who installed the registry release.';
COMMENT ON COLUMN sqitch.releases.installer_email IS 'Email address of the user who installed the registry release.';

CREATE TABLE sqitch.projects (
    project         TEXT        PRIMARY KEY,
    uri             TEXT            NULL UNIQUE,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    creator_name    TEXT        NOT NULL,
    creator_email   TEXT        NOT NULL
);

COMMENT ON TABLE  sqitch.projects                IS 'Sqitch projects deployed to this database.';
COMMENT ON COLUMN sqitch.projects.project        IS 'Unique Name of a project.';
COMMENT ON COLUMN sqitch.projects.uri            IS 'Optional project URI';
COMMENT ON COLUMN sqitch.projects.created_at     IS 'Date the project was added to the database.';
COMMENT ON COLUMN sqitch.projects.creator_name   IS 'Name of the user who added the project.';
COMMENT ON COLUMN sqitch.projects.creator_email  IS 'Email address of the user who added the project.';

CREATE TABLE sqitch.changes (
    change_id       TEXT        PRIMARY KEY,
    script_hash     TEXT            NULL,
    change          TEXT        NOT NULL,
    project         TEXT        NOT NULL REFERENCES sqitch.projects(project) ON UPDATE CASCADE,
    note            TEXT        NOT NULL DEFAULT '',
    committed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    committer_name  TEXT        NOT NULL,
    committer_email TEXT        NOT NULL,
    planned_at      TIMESTAMPTZ NOT NULL,
    planner_name    TEXT        NOT NULL,
    planner_email   TEXT        NOT NULL,
    UNIQUE(project, script_hash)
);

COMMENT ON TABLE  sqitch.changes                 IS 'Tracks the changes currently deployed to the database.';
COMMENT ON COLUMN sqitch.changes.change_id       IS 'Change primary key.';
COMMENT ON COLUMN sqitch.changes.script_hash     IS 'Deploy script SHA-1 hash.';
COMMENT ON COLUMN sqitch.changes.change          IS 'Name of a deployed change.';
COMMENT ON COLUMN sqitch.changes.project         IS 'Name of the Sqitch project to which the change belongs.';
COMMENT ON COLUMN sqitch.changes.note            IS 'Description of the change.';
COMMENT ON COLUMN sqitch.changes.committed_at    IS 'Date the change was deployed.';
COMMENT ON COLUMN sqitch.changes.committer_name  IS 'Name of the user who deployed the change.';
COMMENT ON COLUMN sqitch.changes.committer_email IS 'Email address of the user who deployed the change.';
COMMENT ON COLUMN sqitch.changes.planned_at      IS 'Date the change was added to the plan.';
COMMENT ON COLUMN sqitch.changes.planner_name    IS 'Name of the user who planed the change.';
COMMENT ON COLUMN sqitch.changes.planner_email   IS 'Email address of the user who planned the change.';

CREATE TABLE sqitch.tags (
    tag_id          TEXT        PRIMARY KEY,
    tag             TEXT        NOT NULL,
    project         TEXT        NOT NULL REFERENCES sqitch.projects(project) ON UPDATE CASCADE,
    change_id       TEXT        NOT NULL REFERENCES sqitch.changes(change_id) ON UPDATE CASCADE,
    note            TEXT        NOT NULL DEFAULT '',
    committed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    committer_name  TEXT        NOT NULL,
    committer_email TEXT        NOT NULL,
    planned_at      TIMESTAMPTZ NOT NULL,
    planner_name    TEXT        NOT NULL,
    planner_email   TEXT        NOT NULL,
    UNIQUE(project, tag)
);

COMMENT ON TABLE  sqitch.tags                 IS 'Tracks the tags currently applied to the database.';
COMMENT ON COLUMN sqitch.tags.tag_id          IS 'Tag primary key.';
COMMENT ON COLUMN sqitch.tags.tag             IS 'Project-unique tag name.';
COMMENT ON COLUMN sqitch.tags.project         IS 'Name of the Sqitch project to which the tag belongs.';
COMMENT ON COLUMN sqitch.tags.change_id       IS 'ID of last change deployed before the tag was applied.';
COMMENT ON COLUMN sqitch.tags.note            IS 'Description of the tag.';
COMMENT ON COLUMN sqitch.tags.committed_at    IS 'Date the tag was applied to the database.';
COMMENT ON COLUMN sqitch.tags.committer_name  IS 'Name of the user who applied the tag.';
COMMENT ON COLUMN sqitch.tags.committer_email IS 'Email address of the user who applied the tag.';
COMMENT ON COLUMN sqitch.tags.planned_at      IS 'Date the tag was added to the plan.';
COMMENT ON COLUMN sqitch.tags.planner_name    IS 'Name of the user who planed the tag.';
COMMENT ON COLUMN sqitch.tags.planner_email   IS 'Email address of the user who planned the tag.';

CREATE TABLE sqitch.dependencies (
    change_id       TEXT        NOT NULL REFERENCES sqitch.changes(change_id) ON UPDATE CASCADE ON DELETE CASCADE,
    type            TEXT        NOT NULL,
    dependency      TEXT        NOT NULL,
    dependency_id   TEXT            NULL REFERENCES sqitch.changes(change_id) ON UPDATE CASCADE CONSTRAINT dependencies_check CHECK (
            (type = 'require'  AND dependency_id IS NOT NULL)
         OR (type = 'conflict' AND dependency_id IS NULL)
    ),
    PRIMARY KEY (change_id, dependency)
);

COMMENT ON TABLE  sqitch.dependencies               IS 'Tracks the currently satisfied dependencies.';
COMMENT ON COLUMN sqitch.dependencies.change_id     IS 'ID of the depending change.';
COMMENT ON COLUMN sqitch.dependencies.type          IS 'Type of dependency.';
COMMENT ON COLUMN sqitch.dependencies.dependency    IS 'Dependency name.';
COMMENT ON COLUMN sqitch.dependencies.dependency_id IS 'Change ID the dependency resolves to.';

CREATE TABLE sqitch.events (
    event           TEXT        NOT NULL CONSTRAINT events_event_check CHECK (
        event IN ('deploy', 'revert', 'fail', 'merge')
    ),
    change_id       TEXT        NOT NULL,
    change          TEXT        NOT NULL,
    project         TEXT        NOT NULL REFERENCES sqitch.projects(project) ON UPDATE CASCADE,
    note            TEXT        NOT NULL DEFAULT '',
    requires        TEXT[]      NOT NULL DEFAULT '{}',
    conflicts       TEXT[]      NOT NULL DEFAULT '{}',
    tags            TEXT[]      NOT NULL DEFAULT '{}',
    committed_at    TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp(),
    committer_name  TEXT        NOT NULL,
    committer_email TEXT        NOT NULL,
    planned_at      TIMESTAMPTZ NOT NULL,
    planner_name    TEXT        NOT NULL,
    planner_email   TEXT        NOT NULL,
    PRIMARY KEY (change_id, committed_at)
);

COMMENT ON TABLE  sqitch.events                 IS 'Contains full history of all deployment events.';
COMMENT ON COLUMN sqitch.events.event           IS 'Type of event.';
COMMENT ON COLUMN sqitch.events.change_id       IS 'Change ID.';
COMMENT ON COLUMN sqitch.events.change          IS 'Change name.';
COMMENT ON COLUMN sqitch.events.project         IS 'Name of the Sqitch project to which the change belongs.';
COMMENT ON COLUMN sqitch.events.note            IS 'Description of the change.';
COMMENT ON COLUMN sqitch.events.requires        IS 'Array of the names of required changes.';
COMMENT ON COLUMN sqitch.events.conflicts       IS 'Array of the names of conflicting changes.';
COMMENT ON COLUMN sqitch.events.tags            IS 'Tags associated with the change.';
COMMENT ON COLUMN sqitch.events.committed_at    IS 'Date the event was committed.';
COMMENT ON COLUMN sqitch.events.committer_name  IS 'Name of the user who committed the event.';
COMMENT ON COLUMN sqitch.events.committer_email IS 'Email address of the user who committed the event.';
COMMENT ON COLUMN sqitch.events.planned_at      IS 'Date the event was added to the plan.';
COMMENT ON COLUMN sqitch.events.planner_name    IS 'Name of the user who planed the change.';
COMMENT ON COLUMN sqitch.events.planner_email   IS 'Email address of the user who plan planned the change.';

-- name: sqitch_initialized
-- Engine/pg.pm `initialized`: the registry exists when its changes table does.
SELECT EXISTS (SELECT FROM pg_catalog.pg_tables WHERE schemaname = 'sqitch' AND tablename = 'changes');

-- name: sqitch_register_release
-- Role/DBIEngine.pm `_register_release`: the registry's version (registry_release 1.1).
INSERT INTO sqitch.releases (version, installed_at, installer_name, installer_email)
VALUES (1.1, clock_timestamp(), %(name)s, %(email)s);

-- name: sqitch_project_uri
SELECT uri FROM sqitch.projects WHERE project = %(project)s;

-- name: sqitch_project_with_uri
SELECT project FROM sqitch.projects WHERE uri = %(uri)s;

-- name: sqitch_register_project
-- Role/DBIEngine.pm `register_project`: once per project, on its first deploy.
INSERT INTO sqitch.projects (project, uri, creator_name, creator_email, created_at)
VALUES (%(project)s, %(uri)s, %(name)s, %(email)s, clock_timestamp());

-- name: sqitch_lock
-- Engine/pg.pm `begin_work`: one deploy or revert at a time.
LOCK TABLE sqitch.changes IN EXCLUSIVE MODE;

-- name: sqitch_record_change
INSERT INTO sqitch.changes (change_id, script_hash, change, project, note, committer_name, committer_email,
                            planned_at, planner_name, planner_email, committed_at)
VALUES (%(change_id)s, %(script_hash)s, %(change)s, %(project)s, %(note)s, %(name)s, %(email)s,
        %(planned_at)s, %(planner_name)s, %(planner_email)s, clock_timestamp());

-- name: sqitch_change_as_of_tag
-- Role/DBIEngine.pm `change_id_for` (change@tag): the instance of the change deployed before the tag.
SELECT changes.change_id
  FROM sqitch.changes
  JOIN sqitch.tags ON changes.committed_at <= tags.committed_at AND changes.project = tags.project
 WHERE changes.project = %(project)s AND changes.change = %(change)s AND tags.tag = %(tag)s
 ORDER BY changes.committed_at DESC
 LIMIT 1;

-- name: sqitch_change_first
-- Role/DBIEngine.pm `change_id_for` (change, first => 1): its earliest deployed instance.
SELECT change_id FROM sqitch.changes
 WHERE project = %(project)s AND change = %(change)s
 ORDER BY committed_at ASC
 LIMIT 1;

-- name: sqitch_change_of_tag
-- Role/DBIEngine.pm `change_id_for` (@tag): the change the tag is on.
SELECT change_id FROM sqitch.tags WHERE project = %(project)s AND tag = %(tag)s;

-- name: sqitch_change_by_id
SELECT change_id FROM sqitch.changes WHERE change_id = %(change_id)s;

-- name: sqitch_record_dependency
INSERT INTO sqitch.dependencies (change_id, type, dependency, dependency_id)
VALUES (%(change_id)s, %(type)s, %(dependency)s, %(dependency_id)s);

-- name: sqitch_record_tag
INSERT INTO sqitch.tags (tag_id, tag, project, change_id, note, committer_name, committer_email,
                         planned_at, planner_name, planner_email, committed_at)
VALUES (%(tag_id)s, %(tag)s, %(project)s, %(change_id)s, %(note)s, %(name)s, %(email)s,
        %(planned_at)s, %(planner_name)s, %(planner_email)s, clock_timestamp());

-- name: sqitch_log_new_tag
-- Engine/pg.pm `log_new_tags`: before it deploys, Sqitch logs the tags the plan has since put on
-- the current change (the one the next change follows), unless they are there already.
INSERT INTO sqitch.tags (tag_id, tag, project, change_id, note, committer_name, committer_email,
                         planned_at, planner_name, planner_email)
SELECT %(tag_id)s, %(tag)s, %(project)s, %(change_id)s, %(note)s, %(name)s, %(email)s,
       %(planned_at)s, %(planner_name)s, %(planner_email)s
 WHERE NOT EXISTS (SELECT FROM sqitch.tags WHERE tag_id = %(tag_id)s);

-- name: sqitch_event
-- Role/DBIEngine.pm `_log_event`: every deploy and revert leaves one; events are never deleted.
INSERT INTO sqitch.events (event, change_id, change, project, note, tags, requires, conflicts,
                           committer_name, committer_email, planned_at, planner_name, planner_email, committed_at)
VALUES (%(event)s, %(change_id)s, %(change)s, %(project)s, %(note)s, %(tags)s, %(requires)s, %(conflicts)s,
        %(name)s, %(email)s, %(planned_at)s, %(planner_name)s, %(planner_email)s, clock_timestamp());

-- name: sqitch_forget_tags
-- Engine/pg.pm `log_revert_change`: the change's tags go first, and are named in the revert event.
DELETE FROM sqitch.tags WHERE change_id = %(change_id)s RETURNING tag;

-- name: sqitch_dependencies_of
SELECT ARRAY(SELECT dependency FROM sqitch.dependencies WHERE change_id = %(change_id)s AND type = 'require'),
       ARRAY(SELECT dependency FROM sqitch.dependencies WHERE change_id = %(change_id)s AND type = 'conflict');

-- name: sqitch_forget_change
-- Its dependencies go with it (ON DELETE CASCADE).
DELETE FROM sqitch.changes WHERE change_id = %(change_id)s;

-- name: sqitch_applied
-- What `sqitch status` reads: the deployed changes, the latest by committed_at being "current".
SELECT change_id, change, project, script_hash FROM sqitch.changes ORDER BY committed_at, change_id;
