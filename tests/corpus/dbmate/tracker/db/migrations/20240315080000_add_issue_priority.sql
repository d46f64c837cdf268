-- migrate:up
create type issue_priority as enum ('low', 'medium', 'high', 'urgent');

alter table issues add column priority issue_priority not null default 'medium';

-- migrate:down
alter table issues drop column priority;
drop type issue_priority;
