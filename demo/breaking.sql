-- The breaking change `make demo` makes last: a column that a view reads, and through the view
-- a table the workload's CREATE TABLE ... AS statement loads. CASCADE drops the view too.
ALTER TABLE catalog.books DROP COLUMN title CASCADE;
