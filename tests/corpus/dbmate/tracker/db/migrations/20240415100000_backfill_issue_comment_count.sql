-- migrate:up
alter table issues add column comment_count integer not null default 0;

update issues
   set comment_count = c.n
  from (select issue_id, count(*) as n from comments group by issue_id) c
 where c.issue_id = issues.id;

-- migrate:down
alter table issues drop column comment_count;
