// greeter's integration suite: the image just built, with hello beside it on a network of
// their own, each called by name the way they call each other once deployed.
const greeting = await (await fetch(`${process.env.SLIPWAY_URL}/?name=integration`)).text();
if (!greeting.includes('integration')) throw new Error(`greeter answered ${JSON.stringify(greeting)}`);
const hello = await (await fetch('http://hello:8080/')).text();
if (!hello.includes('Hello')) throw new Error(`hello answered ${JSON.stringify(hello)}`);
console.log(`greeter answers ${JSON.stringify(greeting.trim())}; hello answers by its name`);
