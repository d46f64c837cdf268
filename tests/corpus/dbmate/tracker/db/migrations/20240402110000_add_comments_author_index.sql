-- migrate:up transaction:false
create index concurrently comments_author_id_idx on comments (author_id);

-- migrate:down transaction:false
drop index concurrently comments_author_id_idx;
