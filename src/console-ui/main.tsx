// The console's front end: sign-in, then the pages of issue 14. Preact renders them: ~4 KB
// gzipped buys keyed list updates (instances arriving live, tables refreshing) and components
// with state, which plain DOM code would redo by hand on every page.
import './styles.css';
import { render } from 'preact';
import { App } from './app.js';

render(<App />, document.getElementById('app')!);
