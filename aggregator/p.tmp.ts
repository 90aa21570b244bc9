import { parseLogql } from './src/query/logql/parse';
for (const q of process.argv.slice(2)) {
  try {
    console.log(JSON.stringify(parseLogql(q)));
  } catch (e) {
    console.log('ERR', (e as Error).constructor.name, (e as Error).message);
  }
}
