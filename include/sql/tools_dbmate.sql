-- dbmate's history table (gonogo.tools.dbmate): one row per applied migration, its version.

-- name: dbmate_create
-- dbmate 2.36.0's own DDL, as it sends it (captured from the server log): plain varchar, no length.
create table if not exists public.schema_migrations (version varchar primary key);

-- name: dbmate_applied
select version from public.schema_migrations order by version;

-- name: dbmate_record
insert into public.schema_migrations (version) values (%(version)s);

-- name: dbmate_forget
delete from public.schema_migrations where version = %(version)s;
