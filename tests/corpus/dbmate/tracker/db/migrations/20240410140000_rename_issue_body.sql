-- migrate:up
alter table issues rename column body to description;

-- migrate:down
alter table issues rename column description to body;
