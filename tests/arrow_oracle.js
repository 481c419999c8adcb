// Independent check of pktlm's Arrow IPC files (src/corpus/arrow.c) with the npm package
// apache-arrow, run by tests/test_arrow.c through tests/arrow_oracle.sh.
//   node arrow_oracle.js read FILE        prints the schema, the batch count and every list
//   node arrow_oracle.js write FILE N     writes N sequences (rows() below) in two batches
const arrow = require('apache-arrow');
const fs = require('fs');
const [, , cmd, file, nstr] = process.argv;
// row i: (i * 7) % 13 values; value j = (i * 1000003 + j * 65537) % 70001 (ids past 65535 too)
function rows(n) {
  const r = [];
  for (let i = 0; i < n; i++) {
    const v = [];
    for (let j = 0; j < (i * 7) % 13; j++) v.push((i * 1000003 + j * 65537) % 70001);
    r.push(v);
  }
  return r;
}
if (cmd === 'read') {
  const t = arrow.tableFromIPC(fs.readFileSync(file));
  console.log('schema ' + t.schema.fields.map(f => f.name + ': ' + f.type.toString()).join(', '));
  console.log('batches ' + t.batches.length + ' rows ' + t.numRows);
  const col = t.getChildAt(0);
  for (let i = 0; i < t.numRows; i++) console.log(Array.from(col.get(i)).join(' '));
} else if (cmd === 'write') {
  const n = parseInt(nstr, 10), r = rows(n), k = Math.floor(n / 3);
  const type = new arrow.List(new arrow.Field('item', new arrow.Int32(), true));
  const v = arrow.vectorFromArray(r.slice(0, k), type).concat(arrow.vectorFromArray(r.slice(k), type));
  const t = new arrow.Table({ token_sequences: v });
  fs.writeFileSync(file, arrow.tableToIPC(t, 'file'));
  console.log('batches ' + t.batches.length);
} else {
  console.error('usage: node arrow_oracle.js read FILE | write FILE N');
  process.exit(2);
}
