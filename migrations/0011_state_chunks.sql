-- Large instance states in parts (store/state.ts): a snapshot over 8 KiB is cut into
-- content-defined chunks, and waymark.instances.state holds the manifest ("@" and the chunk ids
-- in order). A step that changes a few places of a large state writes only the chunks around
-- them. The batched write inserts a write's new chunks and deletes the ones its manifest no
-- longer names, in the statement that writes the manifest, only where the lease guard holds.
-- No foreign key, as for action_attempts: the write touches chunks only of rows it updated, and
-- the garbage collector deletes them with their instance.
CREATE TABLE waymark.state_chunks (
  instance_id uuid NOT NULL,
  id          integer NOT NULL,
  data        text NOT NULL,
  PRIMARY KEY (instance_id, id)
);
