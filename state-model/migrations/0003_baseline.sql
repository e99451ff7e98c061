-- Operator-blessed baselines (`demesne baseline bless`) are vertices of their own kind.
ALTER TABLE vertex DROP CONSTRAINT vertex_kind_check;
ALTER TABLE vertex ADD CONSTRAINT vertex_kind_check CHECK (kind IN ('host', 'service', 'package', 'storage', 'network',
  'identity', 'alert', 'resource', 'step', 'finding', 'update', 'diagnostic', 'stack', 'baseline'));
