-- Schema changes `make demo` applies after the first snapshot; each should show up as exactly
-- one event (plus a tombstone where a name goes away).
ALTER TABLE catalog.books ADD COLUMN page_count integer;
COMMENT ON COLUMN catalog.books.page_count IS 'Printed pages; null for audio';
ALTER TABLE sales.customers RENAME COLUMN "Display Name" TO display_name;
ALTER TABLE catalog.authors ALTER COLUMN country TYPE varchar(3);
CREATE TABLE sales.orders_2026_12 PARTITION OF sales.orders FOR VALUES FROM ('2026-12-01') TO ('2027-01-01');
DROP VIEW reporting.open_orders;
ALTER TABLE sales.customers RENAME TO shoppers;
CREATE OR REPLACE FUNCTION sales.order_total(p_order_id bigint) RETURNS numeric
    LANGUAGE sql STABLE
    AS $$ SELECT coalesce(sum(line_total), 0)::numeric(12,2) FROM sales.order_lines WHERE order_id = p_order_id $$;
